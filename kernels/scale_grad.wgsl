// scale_grad.wgsl: folds a spiking layer's upstream gradient into its
// backward factors, in place, before both backward products read them:
//
//   gfac[i] = dy[i] * gfac[i] = (dL/dtau * g_I, dL/dtau * g_S)
//
// for every output i of the step (`elementwise` dispatches batch x outputs
// invocations; the buffers hold the largest batch, so the bound is theirs).
// The weight gradient then reads one pair per output and the input gradient
// one value, instead of three reads (a CPU driver pays per read: see
// `_gemm_direct.wgsl`). The products are the ones the GEMM hooks computed
// before, so every sum is unchanged to the bit. The next forward pass
// writes the factors again.

@group(1) @binding(0) var<storage, read> dy: array<f32>;               // [B, CO, H, W] dL/dtau
@group(1) @binding(1) var<storage, read_write> gfac: array<vec2<f32>>; // [B, CO, H, W]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= min(arrayLength(&dy), arrayLength(&gfac))) { return; }
  gfac[i] = dy[i] * gfac[i];
}
