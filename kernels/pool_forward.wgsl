// pool_forward.wgsl: max pooling of spike times, i.e. the earliest spike of
// each KS x KS window (stride KS, no padding, output floor(H/KS) x floor(W/KS)).
// One invocation per output element; the window is scanned in row-major order
// with a strict comparison, so ties go to the first. `idx` records the flat
// index of the chosen input for the backward pass, or NONE if nothing fired.

override C: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override KS: u32 = 2u;

const NONE: u32 = 0xffffffffu;

@group(1) @binding(0) var<storage, read> x: array<f32>;         // [B, C, H, W]
@group(1) @binding(1) var<storage, read_write> y: array<f32>;   // [B, C, H/KS, W/KS]
@group(1) @binding(2) var<storage, read_write> idx: array<u32>; // [B, C, H/KS, W/KS]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let HO = H / KS;
  let WO = W / KS;
  let o = gid.x + gid.y * nwg.x * 256u;
  if (o >= step.batch * C * HO * WO) { return; }
  let ox = o % WO;
  let oy = (o / WO) % HO;
  let bc = o / (WO * HO);
  var best = NO_SPIKE;
  var at = NONE;
  // No branch: a CPU driver runs invocations as SIMD lanes and pays for every branch.
  for (var ky = 0u; ky < KS; ky++) {
    for (var kx = 0u; kx < KS; kx++) {
      let i = (bc * H + oy * KS + ky) * W + ox * KS + kx;
      let t = x[i];
      let win = fired(t) && t < best;
      best = select(best, t, win);
      at = select(at, i, win);
    }
  }
  y[o] = best;
  idx[o] = at;
}
