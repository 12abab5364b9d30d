// conv_forward.wgsl: spiking convolution (or fully connected layer, or the
// readout) forward pass as an implicit GEMM over the `_gemm.wgsl` core.
//
//   M = CO (output channels), N = batch * H * W (output pixels),
//   K = CI * KS * KS (receptive field, padding KS / 2 adds nothing).
//   MODE 0 (spiking): acc.x = S = sum w * fired, acc.y = I = sum w * t * fired,
//     and the epilogue applies the spike-time rule of MODEL.md, writing tau
//     (NO_SPIKE when it does not fire) and the clipped partial factors
//     (g_I, g_S) for the backward pass, or (0, 0) unless 0 < tau < T.
//   MODE 1 (readout, H = W = KS = 1): acc.x = U = sum w * (2T - t) * fired.
// A fully connected layer is this kernel with H = W = KS = 1 and CI = inputs;
// the input [B, C, H, W] flattens in C, H, W order exactly as PyTorch's view.
// With SPLIT, K is split over workgroup_id.z (for outputs too small to fill
// the GPU) and `forward_splits.wgsl` adds the partial sums in split order and
// applies the same epilogue (`_epilogue.wgsl`).

override CI: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override CO: u32 = 1u;
override KS: u32 = 1u;
override TWIN: f32 = 1.0;
override CLIP: f32 = 1.0;
override MODE: u32 = 0u;
override SPLIT: bool = false;

@group(1) @binding(0) var<storage, read> x: array<f32>;        // [B, CI, H, W] input times
@group(1) @binding(1) var<storage, read> w: array<f32>;        // [CO, CI, KS, KS]
@group(1) @binding(2) var<storage, read_write> y: array<f32>;  // [B, CO, H, W] tau, or U
@group(1) @binding(3) var<storage, read_write> gfac: array<vec2<f32>>; // [B, CO, H, W]
@group(1) @binding(4) var<storage, read_write> part: array<vec2<f32>>; // SPLIT: [splits, CO, B*H*W]

fn gemm_dims() -> vec3<u32> {
  return vec3<u32>(CO, step.batch * H * W, CI * KS * KS);
}

// Row m of A starts at weight m * K.
fn a_ctx(m: u32) -> vec4<u32> {
  return vec4<u32>(m * CI * KS * KS, 0u, 0u, 0u);
}

fn load_a(c: vec4<u32>, k: u32) -> vec2<f32> {
  let v = weight(c.x + k); // _weights_storage.wgsl or _weights_uniform.wgsl
  return vec2<f32>(v, v);
}

// Column n: the start of its image in x, and its output row and column.
fn b_ctx(n: u32) -> vec4<u32> {
  let p = n % (H * W);
  return vec4<u32>((n / (H * W)) * CI * H * W, p / W, p % W, 0u);
}

fn load_b(c: vec4<u32>, k: u32) -> vec2<f32> {
  let ci = k / (KS * KS);
  let r = k % (KS * KS);
  let iy = i32(c.y) + i32(r / KS) - i32(KS / 2u);
  let ix = i32(c.z) + i32(r % KS) - i32(KS / 2u);
  if (iy < 0 || ix < 0 || iy >= i32(H) || ix >= i32(W)) { return vec2<f32>(0.0); }
  let t = x[c.x + (ci * H + u32(iy)) * W + u32(ix)];
  if (!fired(t)) { return vec2<f32>(0.0); }
  if (MODE == 1u) { return vec2<f32>(2.0 * TWIN - t, 0.0); }
  return vec2<f32>(1.0, t);
}

// SPLIT: partial sums of this K split go to part[split][m][n] and
// `forward_splits.wgsl` finishes them; otherwise the epilogue runs here.
fn store(m: u32, n: u32, acc: vec2<f32>, split: u32) {
  if (SPLIT) {
    part[(split * CO + m) * step.batch * H * W + n] = acc;
  } else {
    finish(m, n, acc);
  }
}
