// conv_forward_direct.wgsl: a spiking KS x KS convolution's forward pass
// for CPU drivers, as a direct convolution (no GEMM hooks): the sums S and I
// of MODEL.md for TM output channels x TN consecutive pixels of one image
// row per invocation, then the spike-time epilogue (`_epilogue.wgsl`).
//
//   S[co][p] = sum over ci, ky, kx (in that order) of w[co][ci][ky][kx] * fired,
//   I[co][p] = the same sum of w * t,   input (ci, y + ky - KS/2, x + kx - KS/2),
//
// the terms and their order of `conv_forward.wgsl` over the direct GEMM core
// (k = (ci, ky, kx) ascending, one fma each; padding and silent inputs add
// fma(w, 0, s) = s), so the sums are the same bit for bit.
//
// Why: on a CPU driver a storage read costs tens of cycles per SIMD lane and
// an FMA one (see `_gemm_direct.wgsl`). Per input channel and kernel row this
// kernel reads the TN + KS - 1 inputs its pixels share once (the GEMM reads
// KS * TN: each input once per tap), and the weights of all TM channels of a
// tap as TM / 4 vec4 reads from a uniform window at an index the same for
// all lanes (one load each, no branch). The weights come transposed in
// blocks of TM output channels (`transpose_weights.wgsl`), one block per
// dispatch, bound as the uniform window `wu` at its offset (a dynamic
// offset): vec4 0 holds the block's first channel (u32 bits), then row
// r = (ci * KS + ky) * KS + kx holds the TM channels' weights of that tap.
// Register blocks are written out by `expandRepeats`: `$i` < TM channels,
// `$q` < TN pixels, `$j` < TN + KS - 1 inputs of a row, `$x` < KS taps,
// `$v` < TM / 4. Workgroups per dispatch: ceil(batch * H * ceil(W / TN) /
// LANES); invocation n covers segment n % ceil(W / TN) of row
// (n / ceil(W / TN)) % H of image n / (H * ceil(W / TN)). Lanes along
// pixels: they share the weights' uniform reads.
//
// POOLED = 1 (a training step's forward of a layer followed by a 2 x 2 max
// pool, `fuse` in the step encoder): each invocation computes the two rows
// of a pooled row (ROWS = 2; `$h` < ROWS, `$w` < TN / 2 windows, `$d` < 2)
// and writes the pool's output instead of the layer's: per window the
// earliest spike of its four neurons (row-major, the first on a tie, as
// `pool_forward.wgsl`), the winner's index (`pidx`, or NONE) and the
// winner's backward factors (`gfac`). Nothing else reads the layer's own
// times or the other neurons' factors in a training step without
// statistics: the event builder (`grad_events.wgsl` after a pool) reads the
// winners' only. Workgroups: ceil(batch * (H / 2) * ceil(W / TN) / LANES).

override CI: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override CO: u32 = 1u;
override KS: u32 = 1u;
override TWIN: f32 = 1.0;
override CLIP: f32 = 1.0;
override MODE: u32 = 0u; // spiking layers only (the epilogue's MODE 0)

const NONE: u32 = 0xffffffffu;

@group(1) @binding(0) var<storage, read> x: array<f32>;                // [B, CI, H, W]
@group(1) @binding(1) var<storage, read_write> y: array<f32>;          // [B, CO, H, W] tau
@group(1) @binding(2) var<storage, read_write> gfac: array<vec2<f32>>; // [B, CO, H, W]
@group(1) @binding(3) var<storage, read_write> py: array<f32>;         // POOLED: [B, CO, H/2, W/2]
@group(1) @binding(4) var<storage, read_write> pidx: array<u32>;       // POOLED: the winners

@group(2) @binding(0) var<uniform> wu: array<vec4<f32>, 4096>;

// vec4 v of weight row r of this dispatch's block (channels 4v .. 4v + 3 of the block).
fn wrow(r: u32, v: u32) -> vec4<f32> {
  return wu[1u + r * (TM / 4u) + v];
}

@compute @workgroup_size(LANES, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let segs = (W + TN - 1u) / TN;
  let rows = H / ROWS;
  let inv = wg.x * LANES + lid.x;
  let x0 = (inv % segs) * TN;
  let band = (inv / segs) % rows;
  let row0 = band * ROWS;
  let b = inv / (segs * rows);
  let valid = b < step.batch;
  let image = min(b, step.batch - 1u);
  let co0 = bitcast<u32>(wu[0].x);

  var s$h_$i_$q = 0.0;
  var u$h_$i_$q = 0.0;
  for (var ci = 0u; ci < CI; ci++) {
    let plane = (image * CI + ci) * H * W;
    for (var ky = 0u; ky < KS; ky++) {
      let iy$h = i32(row0 + $hu + ky) - i32(KS / 2u);
      let at$h = plane + u32(clamp(iy$h, 0, i32(H) - 1)) * W;
      let inside$h = iy$h >= 0 && iy$h < i32(H);
      let cx$j = i32(x0) + $j - i32(KS / 2u);
      let t$h_$j = x[at$h + u32(clamp(cx$j, 0, i32(W) - 1))];
      let on$h_$j = inside$h && cx$j >= 0 && cx$j < i32(W) && fired(t$h_$j);
      let f$h_$j = select(0.0, 1.0, on$h_$j);
      let tt$h_$j = select(0.0, t$h_$j, on$h_$j);
      let r = (ci * KS + ky) * KS;
      let w$x_$v = wrow(r + $xu, $vu);
      s$h_$i_$q = fma(w$x_$[i/4][$[i%4]], f$h_$[q+x], s$h_$i_$q);
      u$h_$i_$q = fma(w$x_$[i/4][$[i%4]], tt$h_$[q+x], u$h_$i_$q);
    }
  }
  if (POOLED == 0u) {
    let n0 = (image * H + row0) * W + x0;
    if (valid && co0 + $iu < CO && x0 + $qu < W) { finish(co0 + $iu, n0 + $qu, vec2<f32>(s0_$i_$q, u0_$i_$q)); }
    return;
  }
  let e$h_$i_$q = spike(vec2<f32>(s$h_$i_$q, u$h_$i_$q));
  var best$i_$w = NO_SPIKE;
  var pick$i_$w = 0u;
  var gw$i_$w = vec2<f32>(0.0);
  // Candidates (row h, column 2w + d) in row-major order; strictly earlier wins.
  { let t = e$h_$i_$[2*w+d].x; let on = fired(t) && t < best$i_$w; pick$i_$w = select(pick$i_$w, $[h*2+d]u, on); best$i_$w = select(best$i_$w, t, on); }
  gw$i_$w = select(gw$i_$w, e$h_$i_$[2*w+d].yz, pick$i_$w == $[h*2+d]u);
  let HO = H / 2u;
  let WO = W / 2u;
  let inpool = valid && band < HO;
  let won$i_$w = fired(best$i_$w);
  let at$i_$w = ((image * CO + co0 + $iu) * H + row0 + pick$i_$w / 2u) * W + x0 + 2u * $wu + pick$i_$w % 2u;
  let o$i_$w = ((image * CO + co0 + $iu) * HO + band) * WO + x0 / 2u + $wu;
  if (inpool && co0 + $iu < CO && x0 / 2u + $wu < WO) { py[o$i_$w] = best$i_$w; pidx[o$i_$w] = select(NONE, at$i_$w, won$i_$w); if (won$i_$w) { gfac[at$i_$w] = gw$i_$w; } }
}
