// conv_backward_input.wgsl: gradient of the loss with respect to a spiking
// convolution's (or fully connected layer's, or readout's) input spike times,
// as an implicit GEMM (a transposed convolution) over the `_gemm.wgsl` core.
//
//   M = CI (input channels), N = batch * H * W (input pixels),
//   K = CO * KS * KS: for input pixel (iy, ix) and kernel tap (ky, kx) the
//   output pixel is (iy - ky + KS/2, ix - kx + KS/2).
//   MODE 0: dx_i = fired(t_i) * sum_j w_ij * dy_j * g_I(j), where g_I is the
//     saved clipped factor (zero for neurons that did not fire inside (0, T)).
//   MODE 1 (readout): dx_i = [t_i < T] * sum_k -w_ik * dU_k.

override CI: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override CO: u32 = 1u;
override KS: u32 = 1u;
override TWIN: f32 = 1.0;
override MODE: u32 = 0u;

@group(1) @binding(0) var<storage, read> x: array<f32>;          // [B, CI, H, W] input times
@group(1) @binding(1) var<storage, read> w: array<f32>;          // [CO, CI, KS, KS]
@group(1) @binding(2) var<storage, read> dy: array<f32>;         // [B, CO, H, W] dL/dtau or dL/dU
@group(1) @binding(3) var<storage, read> gfac: array<vec2<f32>>; // [B, CO, H, W]
@group(1) @binding(4) var<storage, read_write> dx: array<f32>;   // [B, CI, H, W]

fn gemm_dims() -> vec3<u32> {
  return vec3<u32>(CI, step.batch * H * W, CO * KS * KS);
}

// Row m (input channel ci) reads w[co][ci][.][.]: its offset inside each co block.
fn a_ctx(m: u32) -> vec4<u32> {
  return vec4<u32>(m * KS * KS, 0u, 0u, 0u);
}

fn load_a(c: vec4<u32>, k: u32) -> vec2<f32> {
  let co = k / (KS * KS);
  let v = weight(co * CI * KS * KS + c.x + k % (KS * KS)); // _weights_storage / _uniform.wgsl
  return vec2<f32>(v, v);
}

// Column n (an input pixel): the start of its image in dy, and its row and column.
fn b_ctx(n: u32) -> vec4<u32> {
  let p = n % (H * W);
  return vec4<u32>((n / (H * W)) * CO * H * W, p / W, p % W, 0u);
}

fn load_b(c: vec4<u32>, k: u32) -> vec2<f32> {
  let co = k / (KS * KS);
  let r = k % (KS * KS);
  let oy = i32(c.y) - i32(r / KS) + i32(KS / 2u);
  let ox = i32(c.z) - i32(r % KS) + i32(KS / 2u);
  if (oy < 0 || ox < 0 || oy >= i32(H) || ox >= i32(W)) { return vec2<f32>(0.0); }
  let o = c.x + (co * H + u32(oy)) * W + u32(ox);
  var g: f32;
  if (MODE == 1u) { g = -dy[o]; } else { g = gfac[o].x; } // dy * g_I (scale_grad.wgsl)
  return vec2<f32>(g, g);
}

fn store(m: u32, n: u32, acc: vec2<f32>, split: u32) {
  let b = n / (H * W);
  let p = n % (H * W);
  let i = (b * CI + m) * H * W + p;
  let t = x[i];
  var keep = fired(t);
  if (MODE == 1u) { keep = t < TWIN; }
  dx[i] = select(0.0, acc.x, keep);
}
