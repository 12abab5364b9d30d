// forward_splits.wgsl: finishes a split-K forward pass. One invocation per
// output (m, n), n over batch * H * W: adds part[s][m][n] for s = 0 ..
// SPLITS-1 in split order (deterministic), then applies the forward epilogue
// (`_epilogue.wgsl`: the spike-time rule and saved factors, or U).

override H: u32 = 1u;
override W: u32 = 1u;
override CO: u32 = 1u;
override TWIN: f32 = 1.0;
override CLIP: f32 = 1.0;
override MODE: u32 = 0u;
override SPLITS: u32 = 1u;

@group(1) @binding(0) var<storage, read> part: array<vec2<f32>>;       // [SPLITS, CO, B*H*W]
@group(1) @binding(1) var<storage, read_write> y: array<f32>;          // [B, CO, H, W]
@group(1) @binding(2) var<storage, read_write> gfac: array<vec2<f32>>; // [B, CO, H, W]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n_all = step.batch * H * W;
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= CO * n_all) { return; }
  let m = i / n_all;
  let n = i % n_all;
  var acc = vec2<f32>(0.0);
  for (var s = 0u; s < SPLITS; s++) { acc += part[(s * CO + m) * n_all + n]; }
  finish(m, n, acc);
}
