// _epilogue.wgsl: the forward epilogue shared by `conv_forward.wgsl` (when it
// finishes the sums itself) and `forward_splits.wgsl` (when split-K partial
// sums are added first). Needs the overrides CO, H, W, TWIN, CLIP, MODE and
// the bindings `y` and `gfac` of its includer.
//   MODE 0: the spike-time rule of MODEL.md on S = acc.x, I = acc.y: tau (or
//     NO_SPIKE) into y, and the clipped (g_I, g_S) into gfac, (0, 0) unless
//     0 < tau < T.
//   MODE 1 (readout): U = acc.x into y.

fn finish(m: u32, n: u32, acc: vec2<f32>) {
  let b = n / (H * W);
  let p = n % (H * W);
  let o = (b * CO + m) * H * W + p;
  if (MODE == 1u) {
    y[o] = acc.x;
    return;
  }
  let S = acc.x;
  let I = acc.y;
  var tau = NO_SPIKE;
  if (S * TWIN - I >= TWIN) {
    tau = 0.0;
  } else if (1.0 + S > 0.0) {
    let t_star = (2.0 * TWIN + I) / (1.0 + S);
    if (t_star <= 2.0 * TWIN) { tau = max(t_star - TWIN, 0.0); }
  }
  y[o] = tau;
  var g = vec2<f32>(0.0);
  if (tau > 0.0 && tau < TWIN) {
    let inv = 1.0 / (1.0 + S);
    g = vec2<f32>(clamp(inv, -CLIP, CLIP), clamp(-(2.0 * TWIN + I) * inv * inv, -CLIP, CLIP));
  }
  gfac[o] = g;
}
