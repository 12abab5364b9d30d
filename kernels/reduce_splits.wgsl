// reduce_splits.wgsl: out[i] = sum over s = 0 .. SPLITS-1 of part[s * LEN + i],
// added in split order, so the result is the same on every run. One
// invocation per element. SPLITS is fixed per layer from its shape and the
// model's largest batch; a smaller batch leaves some splits with empty K
// ranges, which `_gemm.wgsl` stores as zeros.

override LEN: u32 = 1u;
override SPLITS: u32 = 1u;

@group(1) @binding(0) var<storage, read> part: array<f32>;     // [SPLITS, LEN]
@group(1) @binding(1) var<storage, read_write> out: array<f32>; // [LEN]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= LEN) { return; }
  var s = 0.0;
  for (var z = 0u; z < SPLITS; z++) { s += part[z * LEN + i]; }
  out[i] = s;
}
