// encode.wgsl: time-to-first-spike input encoding (MODEL.md). One invocation
// per element of x, intensities in [0, 1] laid out [B, C, PLANE]:
//   plain:      t = T * (1 - x), and x == 0 does not spike (NO_SPIKE);
//   NORMALIZE:  xn = (x - mean_c) / std_c, t = T * (1 - xn), and only then
//               t == T exactly (xn == 0, a pixel equal to the mean) does not
//               spike. A raw 0 pixel spikes late, at T * (1 + mean_c / std_c),
//               and bright pixels spike before 0: the reference's encoding,
//               whose times may lie outside [0, T] and count in S and I.

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
  if (NORMALIZE) {
    let ms = norm[(i / PLANE) % C];
    let tn = TWIN * (1.0 - (v - ms.x) / ms.y);
    t[i] = select(tn, NO_SPIKE, tn == TWIN);
  } else {
    t[i] = select(TWIN * (1.0 - v), NO_SPIKE, v == 0.0);
  }
}
