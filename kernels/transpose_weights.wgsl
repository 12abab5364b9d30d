// transpose_weights.wgsl: a KS x KS convolution's weights w[co][ci][ky][kx]
// (the flat parameter buffer, from WOFF) copied into the two layouts the
// direct convolution kernels read through uniform windows (`wt`):
//
//   forward (`conv_forward_direct.wgsl`), from FOFF: row (ci * KS + ky) * KS + kx
//     holds the CO weights of that tap, padded to CO4 floats, RPWF rows per
//     window of 16384 floats (a row never crosses a window);
//   input gradient (`conv_backward_input_direct.wgsl`), from BOFF: row
//     (co * KS + ky) * KS + kx holds the CI weights, padded to CI4, RPWB rows
//     per window.
//
// The padding is never written (the buffer starts at zero). Run after every
// change of the weights (the optimizer's update, a host write), one
// invocation per weight.

override CO: u32 = 1u;
override CI: u32 = 1u;
override KS: u32 = 1u;
override WOFF: u32 = 0u;
override FOFF: u32 = 0u;
override RPWF: u32 = 1u;
override CO4: u32 = 4u;
override BOFF: u32 = 0u;
override RPWB: u32 = 1u;
override CI4: u32 = 4u;

const WINDOW: u32 = 16384u;

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
  let rf = ci * KK + tap;
  wt[FOFF + (rf / RPWF) * WINDOW + (rf % RPWF) * CO4 + co] = w;
  let rb = co * KK + tap;
  wt[BOFF + (rb / RPWB) * WINDOW + (rb % RPWB) * CI4 + ci] = w;
}
