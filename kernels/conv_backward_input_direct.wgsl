// conv_backward_input_direct.wgsl: a spiking KS x KS convolution's gradient
// with respect to its input spike times, for CPU drivers, as a direct
// (transposed) convolution: TM input channels x TN consecutive pixels of one
// image row per invocation.
//
//   dx[ci][p] = fired(t_ci,p) * sum over co, ky, kx (in that order) of
//               w[co][ci][ky][kx] * G[co][y - ky + KS/2][x - kx + KS/2],
//
// G = dL/dtau * g_I (`gfac.x`, folded by `scale_grad.wgsl` or
// `grad_events.wgsl`; zero outside the image), the terms and order of
// `conv_backward_input.wgsl` over the direct GEMM core (k = (co, ky, kx)
// ascending, one fma each), so the sums are the same bit for bit.
//
// As in `conv_forward_direct.wgsl`: per output channel and kernel row it
// reads the TN + KS - 1 values of G its pixels share once, and the weights of
// all TM input channels of a tap as TM / 4 vec4 reads from a uniform window,
// transposed in blocks of TM input channels (`transpose_weights.wgsl`), one
// block per dispatch at its dynamic offset: vec4 0 holds the block's first
// channel (u32 bits), then row r = (co * KS + ky) * KS + kx the TM channels'
// weights of that tap. The pixel (q, tap kx) reads G at column
// x0 + q - kx + KS/2, that is entry q + (KS - 1) - kx of the row's inputs
// that start at x0 - KS/2. Repeats: `$i` < TM, `$q` < TN, `$j` < TN + KS - 1,
// `$x` < KS, `$v` < TM / 4; the constant `K` = KS - 1. Workgroups per
// dispatch: ceil(batch * H * ceil(W / TN) / LANES).
//
// SKIP == 1 (a layer whose event builder, `grad_events.wgsl`, ran just
// before and left its per-plane event counts in `count`): an output channel
// whose G is zero on the planes (image, co) of every image a workgroup's
// lanes cover (count 0) adds only zero terms there, and is skipped. The skip
// is decided per workgroup, the same for all its lanes (a CPU driver runs
// them as SIMD lanes: a branch that only some lanes take skips nothing), by
// a loop that advances `co` to the next channel with events (on llvmpipe no
// slower than an `if` around the channel's work: PERFORMANCE.md, change 33).
// The sums are the dense ones bit for bit: a sum that starts at +0 is never
// -0, and s + (+-0) = s for every other s (finite weights: w * 0 is +-0).

override CI: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override CO: u32 = 1u;
override KS: u32 = 1u;

@group(1) @binding(0) var<storage, read> x: array<f32>;          // [B, CI, H, W] input times
@group(1) @binding(1) var<storage, read> gfac: array<vec2<f32>>; // [B, CO, H, W]: (G, .)
@group(1) @binding(2) var<storage, read_write> dx: array<f32>;   // [B, CI, H, W]
@group(1) @binding(3) var<storage, read> count: array<u32>;      // SKIP: [B * CO] events per plane

@group(2) @binding(0) var<uniform> wu: array<vec4<f32>, 4096>;

// vec4 v of weight row r of this dispatch's block (channels 4v .. 4v + 3 of the block).
fn wrow(r: u32, v: u32) -> vec4<f32> {
  return wu[1u + r * (TM / 4u) + v];
}

// The first output channel from `start` on with an event on a plane of images b0 ..= b1 (CO if none).
fn next_live(start: u32, b0: u32, b1: u32) -> u32 {
  var co = start;
  loop {
    if (co >= CO) { break; }
    var n = 0u;
    for (var b = b0; b <= b1; b++) { n |= count[b * CO + co]; }
    if (n != 0u) { break; }
    co++;
  }
  return co;
}

@compute @workgroup_size(LANES, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let segs = (W + TN - 1u) / TN;
  let inv = wg.x * LANES + lid.x;
  let x0 = (inv % segs) * TN;
  let row = (inv / segs) % H;
  let b = inv / (segs * H);
  let valid = b < step.batch;
  let image = min(b, step.batch - 1u);
  let ci0 = bitcast<u32>(wu[0].x);

  // The images of this workgroup's lanes (the same for all of them).
  let b0 = wg.x * LANES / (segs * H);
  let b1 = min((wg.x * LANES + LANES - 1u) / (segs * H), step.batch - 1u);

  var s$i_$q = 0.0;
  var co = 0u;
  loop {
    if (SKIP == 1u) { co = next_live(co, b0, b1); }
    if (co >= CO) { break; }
    let plane = (image * CO + co) * H * W;
    for (var ky = 0u; ky < KS; ky++) {
      let oy = i32(row + KS / 2u) - i32(ky);
      let at = plane + u32(clamp(oy, 0, i32(H) - 1)) * W;
      let inside = oy >= 0 && oy < i32(H);
      let cx$j = i32(x0) + $j - i32(KS / 2u);
      let g$j = gfac[at + u32(clamp(cx$j, 0, i32(W) - 1))].x;
      let v$j = select(0.0, g$j, inside && cx$j >= 0 && cx$j < i32(W));
      let r = (co * KS + ky) * KS;
      let w$x_$v = wrow(r + $xu, $vu);
      s$i_$q = fma(w$x_$[i/4][$[i%4]], v$[q+K-x], s$i_$q);
    }
    co++;
  }
  let p0 = row * W + x0;
  let o$i = ((image * CI + min(ci0 + $iu, CI - 1u)) * H * W) + p0;
  if (valid && ci0 + $iu < CI && x0 + $qu < W) { dx[o$i + $qu] = select(0.0, s$i_$q, fired(x[o$i + $qu])); }
}
