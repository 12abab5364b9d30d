// pool_backward.wgsl: routes each pooled gradient to the input that won its
// window (the earliest spike, first on ties). One invocation per INPUT
// element, so every element is written exactly once and no atomics are needed:
// dx_i = dy_o if idx_o == i for the window o containing i, else 0.

override C: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override KS: u32 = 2u;

@group(1) @binding(0) var<storage, read> dy: array<f32>;        // [B, C, H/KS, W/KS]
@group(1) @binding(1) var<storage, read> idx: array<u32>;       // [B, C, H/KS, W/KS]
@group(1) @binding(2) var<storage, read_write> dx: array<f32>;  // [B, C, H, W]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let HO = H / KS;
  let WO = W / KS;
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= step.batch * C * H * W) { return; }
  let ix = i % W;
  let iy = (i / W) % H;
  let bc = i / (W * H);
  var g = 0.0;
  let oy = iy / KS;
  let ox = ix / KS;
  if (oy < HO && ox < WO) {
    let o = (bc * HO + oy) * WO + ox;
    if (idx[o] == i) { g = dy[o]; }
  }
  dx[i] = g;
}
