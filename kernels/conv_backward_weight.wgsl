// conv_backward_weight.wgsl: weight gradient of a spiking convolution (or
// fully connected layer, or readout), both terms in one pass, as an implicit
// GEMM over the `_gemm.wgsl` core with split-K.
//
//   M = CO, N = CI * KS * KS (one weight each), K = batch * H * W.
//   MODE 0: dW_ij = sum (dy_j g_I(j)) * t_i * fired_i + (dy_j g_S(j)) * fired_i
//     (acc.x holds the first sum, acc.y the second).
//   MODE 1 (readout): dW_ki = sum dU_k * (2T - t_i) * fired_i.
// Each split z writes its partial sums to part[z][M][N]; `reduce_splits.wgsl`
// adds them in split order into the gradient, so results are deterministic.

override CI: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override CO: u32 = 1u;
override KS: u32 = 1u;
override TWIN: f32 = 1.0;
override MODE: u32 = 0u;

@group(1) @binding(0) var<storage, read> x: array<f32>;          // [B, CI, H, W] input times
@group(1) @binding(1) var<storage, read> dy: array<f32>;         // [B, CO, H, W]
@group(1) @binding(2) var<storage, read> gfac: array<vec2<f32>>; // [B, CO, H, W]
@group(1) @binding(3) var<storage, read_write> part: array<f32>; // [splits, CO, CI*KS*KS]

fn gemm_dims() -> vec3<u32> {
  return vec3<u32>(CO, CI * KS * KS, step.batch * H * W);
}

// Row m (output channel co): its plane offset inside each image of dy.
fn a_ctx(m: u32) -> vec4<u32> {
  return vec4<u32>(m * H * W, 0u, 0u, 0u);
}

fn load_a(c: vec4<u32>, k: u32) -> vec2<f32> {
  let o = (k / (H * W)) * CO * H * W + c.x + k % (H * W);
  if (MODE == 1u) {
    let d = dy[o];
    return vec2<f32>(d, d);
  }
  return gfac[o]; // dy * (g_I, g_S), folded in by scale_grad.wgsl
}

// Column n (weight ci, ky, kx): the channel's plane offset and the tap's shift
// (stored + KS/2 so it stays unsigned).
fn b_ctx(n: u32) -> vec4<u32> {
  let r = n % (KS * KS);
  return vec4<u32>((n / (KS * KS)) * H * W, r / KS, r % KS, 0u);
}

fn load_b(c: vec4<u32>, k: u32) -> vec2<f32> {
  let p = k % (H * W);
  let iy = i32(p / W) + i32(c.y) - i32(KS / 2u);
  let ix = i32(p % W) + i32(c.z) - i32(KS / 2u);
  if (iy < 0 || ix < 0 || iy >= i32(H) || ix >= i32(W)) { return vec2<f32>(0.0); }
  let t = x[(k / (H * W)) * CI * H * W + c.x + u32(iy) * W + u32(ix)];
  if (!fired(t)) { return vec2<f32>(0.0); }
  if (MODE == 1u) { return vec2<f32>(2.0 * TWIN - t, 0.0); }
  return vec2<f32>(t, 1.0);
}

fn store(m: u32, n: u32, acc: vec2<f32>, split: u32) {
  part[(split * CO + m) * CI * KS * KS + n] = acc.x + acc.y;
}
