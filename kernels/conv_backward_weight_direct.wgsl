// conv_backward_weight_direct.wgsl: a spiking KS x KS convolution's weight
// gradient for CPU drivers, as a direct convolution that slides along each
// image row:
//
//   dW[co][ci][ky][kx] = sum over k = (b, y, x) in this split's range, in order, of
//     G.x * t_i * fired_i  +  G.y * fired_i,   i = (b, ci, y + ky - KS/2, x + kx - KS/2),
//
// G = dL/dtau (g_I, g_S) of output (b, co, y, x) (`gfac`, folded by
// `scale_grad.wgsl` or `grad_events.wgsl`), with the terms, order and K
// splits (BK-aligned ranges over workgroup_id.z, partial sums into `part`,
// added by `reduce_splits.wgsl`) of `conv_backward_weight.wgsl` over the
// direct GEMM core: the same sums bit for bit.
//
// Each invocation owns TM output channels and one input channel, all KS * KS
// taps (2 * TM * KS * KS accumulators), and walks its pixels in order keeping
// the KS x KS patch of inputs around the current pixel in registers: moving
// one pixel along a row reads the patch's new column only (KS values, where
// the GEMM reads KS * KS per pixel), and G of its TM channels. On a CPU
// driver, where a read costs tens of cycles per lane and an FMA one, that
// halves the reads per FMA. Lanes take (channel block, input channel) pairs:
// invocation n owns input channel n % CI and output channels
// (n / CI) * TM ..; workgroups [ceil(ceil(CO / TM) * CI / LANES), 1, splits].
// Repeats (`expandRepeats`): `$i` < TM, `$a` < KS patch rows, `$c` < KS patch
// columns, `$s` < KS - 1 (the shift); the constant `K` = KS - 1 (the new column).

override CI: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override CO: u32 = 1u;
override KS: u32 = 1u;

@group(1) @binding(0) var<storage, read> x: array<f32>;          // [B, CI, H, W] input times
@group(1) @binding(1) var<storage, read> gfac: array<vec2<f32>>; // [B, CO, H, W]: G
@group(1) @binding(2) var<storage, read_write> part: array<f32>; // [splits, CO, CI * KS * KS]

@compute @workgroup_size(LANES, 1, 1)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let HW = H * W;
  let n = wg.x * LANES + lid.x;
  let ci = n % CI;
  let co0 = (n / CI) * TM;
  let valid = co0 < CO;
  let oc$i = min(co0 + $iu, CO - 1u);
  // This split's K range, as the dense core computes it.
  let K = step.batch * HW;
  let tiles = (K + BK - 1u) / BK;
  let per_split = (tiles + nwg.z - 1u) / nwg.z;
  let k_begin = min(wg.z * per_split * BK, K);
  let k_end = min(k_begin + per_split * BK, K);

  var sx$i_$a_$c = 0.0;
  var sy$i_$a_$c = 0.0;
  // The patch: input (row y + a - KS/2, column x + c - KS/2) of channel ci, as (t if fired, else 0)
  // and (1 if fired, else 0).
  var pt$a_$c = 0.0;
  var pf$a_$c = 0.0;

  var k = k_begin;
  loop {
    if (k >= k_end) { break; }
    // One image row (or the part of it in this split) at a time.
    let b = k / HW;
    let p = k % HW;
    let y = p / W;
    let x_first = p % W;
    let end = min(k_end, k - x_first + W);
    let plane = (b * CI + ci) * HW;
    let iy$a = i32(y) + $a - i32(KS / 2u);
    let rin$a = iy$a >= 0 && iy$a < i32(H);
    let row$a = plane + u32(clamp(iy$a, 0, i32(H) - 1)) * W;
    let gbase$i = (b * CO + oc$i) * HW + y * W;
    // The patch's first KS - 1 columns around the first pixel.
    let ix$s = i32(x_first) + $s - i32(KS / 2u);
    let t$a_$s = x[row$a + u32(clamp(ix$s, 0, i32(W) - 1))];
    let on$a_$s = rin$a && ix$s >= 0 && ix$s < i32(W) && fired(t$a_$s);
    pt$a_$s = select(0.0, t$a_$s, on$a_$s);
    pf$a_$s = select(0.0, 1.0, on$a_$s);
    for (var xx = x_first; k < end; xx++) {
      // The new column, then every tap's term, then the shift.
      let nx = i32(xx) + i32(KS - 1u) - i32(KS / 2u);
      let tn$a = x[row$a + u32(clamp(nx, 0, i32(W) - 1))];
      let onn$a = rin$a && nx >= 0 && nx < i32(W) && fired(tn$a);
      pt$a_$K = select(0.0, tn$a, onn$a);
      pf$a_$K = select(0.0, 1.0, onn$a);
      let g$i = gfac[gbase$i + xx];
      sx$i_$a_$c = fma(g$i.x, pt$a_$c, sx$i_$a_$c);
      sy$i_$a_$c = fma(g$i.y, pf$a_$c, sy$i_$a_$c);
      pt$a_$s = pt$a_$[s+1];
      pf$a_$s = pf$a_$[s+1];
      k++;
    }
  }
  let at = wg.z * CO * CI * KS * KS + ci * KS * KS;
  if (valid && co0 + $iu < CO) { part[at + (co0 + $iu) * CI * KS * KS + $au * KS + $cu] = sx$i_$a_$c + sy$i_$a_$c; }
}
