// encode.wgsl: time-to-first-spike input encoding (MODEL.md). One invocation
// per element of x, intensities in [0, 1] laid out [B, C, PLANE]:
//   t = T * (1 - x), or, with NORMALIZE, t = T * (1 - (x - mean_c) / std_c);
//   x == 0 does not spike (NO_SPIKE) in both modes.

override C: u32 = 1u;
override PLANE: u32 = 1u;
override TWIN: f32 = 1.0;
override NORMALIZE: bool = false;

@group(1) @binding(0) var<storage, read> x: array<f32>;          // [B, C, PLANE]
@group(1) @binding(1) var<storage, read> norm: array<vec2<f32>>; // [C] (mean, std)
@group(1) @binding(2) var<storage, read_write> t: array<f32>;    // [B, C, PLANE]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= step.batch * C * PLANE) { return; }
  let v = x[i];
  var xn = v;
  if (NORMALIZE) {
    let ms = norm[(i / PLANE) % C];
    xn = (v - ms.x) / ms.y;
  }
  t[i] = select(TWIN * (1.0 - xn), NO_SPIKE, v == 0.0);
}
