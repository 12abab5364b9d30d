// _epilogue.wgsl: the forward epilogue shared by `conv_forward.wgsl` (when it
// finishes the sums itself), `conv_forward_direct.wgsl` and
// `forward_splits.wgsl` (when split-K partial sums are added first). Needs the
// overrides CO, H, W, TWIN, CLIP, MODE and the bindings `y` and `gfac` of its
// includer.
//   MODE 0: the spike-time rule of MODEL.md on S = acc.x, I = acc.y: tau (or
//     NO_SPIKE) into y, and the clipped (g_I, g_S) into gfac, (0, 0) unless
//     0 < tau < T.
//   MODE 1 (readout): U = acc.x into y.
// Every quantity is computed and the cases are chosen with `select`, without
// branches (a CPU driver runs invocations as SIMD lanes and pays for every
// branch); the values chosen are the ones the case analysis gives, computed
// the same way, so nothing changes but the control flow.

// The spike-time rule on the sums acc = (S, I): (tau or NO_SPIKE, g_I, g_S),
// the factors (0, 0) unless 0 < tau < T.
fn spike(acc: vec2<f32>) -> vec3<f32> {
  let S = acc.x;
  let I = acc.y;
  // Case 1: above threshold as the window opens; case 2: t* = (2T + I) / (1 + S) inside it.
  let early = S * TWIN - I >= TWIN;
  let t_star = (2.0 * TWIN + I) / (1.0 + S);
  let crosses = 1.0 + S > 0.0 && t_star <= 2.0 * TWIN;
  let tau = select(select(NO_SPIKE, max(t_star - TWIN, 0.0), crosses), 0.0, early);
  let inv = 1.0 / (1.0 + S);
  let factors = vec2<f32>(clamp(inv, -CLIP, CLIP), clamp(-(2.0 * TWIN + I) * inv * inv, -CLIP, CLIP));
  return vec3<f32>(tau, select(vec2<f32>(0.0), factors, tau > 0.0 && tau < TWIN));
}

fn finish(m: u32, n: u32, acc: vec2<f32>) {
  let b = n / (H * W);
  let p = n % (H * W);
  let o = (b * CO + m) * H * W + p;
  if (MODE == 1u) {
    y[o] = acc.x;
    return;
  }
  let e = spike(acc);
  y[o] = e.x;
  gfac[o] = e.yz;
}
