// transpose_weights.wgsl: a KS x KS convolution's weights w[co][ci][ky][kx]
// (the flat parameter buffer, from WOFF) copied into the two layouts the
// direct convolution kernels read through a uniform window (`wt`), in blocks
// that one dispatch each reads:
//
//   forward (`conv_forward_direct.wgsl`), from FOFF: block c of TMF output
//     channels at FOFF + c * FBLOCK: vec4 0 holds c * TMF (u32 bits), then
//     row (ci * KS + ky) * KS + kx holds the TMF channels' weights of that tap;
//   input gradient (`conv_backward_input_direct.wgsl`), from BOFF: block c of
//     TMB input channels at BOFF + c * BBLOCK, rows (co * KS + ky) * KS + kx.
//
// Blocks are at most 16384 floats (one 64 KiB window) and start 256 bytes
// apart at least (dynamic offsets). Channels past the last one are never
// written (the buffer starts at zero). Run after every change of the
// weights (the optimizer's update, a host write), one invocation per weight.

override CO: u32 = 1u;
override CI: u32 = 1u;
override KS: u32 = 1u;
override WOFF: u32 = 0u;
override FOFF: u32 = 0u;
override TMF: u32 = 4u;
override FBLOCK: u32 = 64u;
override BOFF: u32 = 0u;
override TMB: u32 = 4u;
override BBLOCK: u32 = 64u;

@group(1) @binding(0) var<storage, read> params: array<f32>;
@group(1) @binding(1) var<storage, read_write> wt: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  let KK = KS * KS;
  if (i >= CO * CI * KK) { return; }
  let tap = i % KK;
  let ci = (i / KK) % CI;
  let co = i / (KK * CI);
  let w = params[WOFF + i];
  let fb = FOFF + (co / TMF) * FBLOCK;
  wt[fb + 4u + (ci * KK + tap) * TMF + co % TMF] = w;
  let bb = BOFF + (ci / TMB) * BBLOCK;
  wt[bb + 4u + (co * KK + tap) * TMB + ci % TMB] = w;
  // Each block's header: its first channel.
  if (tap == 0u && ci == 0u && co % TMF == 0u) { wt[fb] = bitcast<f32>(co); }
  if (tap == 0u && co == 0u && ci % TMB == 0u) { wt[bb] = bitcast<f32>(ci); }
}
