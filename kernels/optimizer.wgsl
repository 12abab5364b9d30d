// optimizer.wgsl: one update of every weight of the model, which lives in one
// flat buffer (each layer at a 256-byte aligned offset; padding stays zero).
//   MODE 0, Adam: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
//     w -= lr * (m / bc1) / (sqrt(v / bc2) + eps), bc = 1 - b^step (host, float64);
//   MODE 1, SGD: w -= lr * g.
// Then weight decay w -= lr * wd * w, optional clipping to [W_MIN, W_MAX] and
// optional fixed signs (a weight whose sign differs from its initial sign
// becomes 0). One invocation per 4 weights (vec4 loads and stores; the flat
// buffer's length is a multiple of 64), each lane computed as in the scalar form.

override LEN4: u32 = 1u; // weights / 4
override MODE: u32 = 0u;
override B1: f32 = 0.9;
override B2: f32 = 0.999;
override EPS: f32 = 1e-8;
override WD: f32 = 0.0;
override WCLIP: bool = false;
override W_MIN: f32 = 0.0;
override W_MAX: f32 = 0.0;
override SIGNS: bool = false;

@group(1) @binding(0) var<storage, read_write> w: array<vec4<f32>>;
@group(1) @binding(1) var<storage, read> g: array<vec4<f32>>;
@group(1) @binding(2) var<storage, read_write> m: array<vec4<f32>>;
@group(1) @binding(3) var<storage, read_write> v: array<vec4<f32>>;
@group(1) @binding(4) var<storage, read> sign0: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= LEN4) { return; }
  let lr = step.lr;
  var wi = w[i];
  let gi = g[i];
  if (MODE == 0u) {
    let mi = B1 * m[i] + (1.0 - B1) * gi;
    let vi = B2 * v[i] + (1.0 - B2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    wi -= lr * (mi / step.bc1) / (sqrt(vi / step.bc2) + EPS);
  } else {
    wi -= lr * gi;
  }
  wi -= lr * WD * wi;
  if (WCLIP) { wi = clamp(wi, vec4<f32>(W_MIN), vec4<f32>(W_MAX)); }
  if (SIGNS) { wi = select(wi, vec4<f32>(0.0), wi * sign0[i] < vec4<f32>(0.0)); }
  w[i] = wi;
}
