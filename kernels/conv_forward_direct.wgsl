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

override CI: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override CO: u32 = 1u;
override KS: u32 = 1u;
override TWIN: f32 = 1.0;
override CLIP: f32 = 1.0;
override MODE: u32 = 0u; // spiking layers only (the epilogue's MODE 0)

@group(1) @binding(0) var<storage, read> x: array<f32>;                // [B, CI, H, W]
@group(1) @binding(1) var<storage, read_write> y: array<f32>;          // [B, CO, H, W] tau
@group(1) @binding(2) var<storage, read_write> gfac: array<vec2<f32>>; // [B, CO, H, W]

@group(2) @binding(0) var<uniform> wu: array<vec4<f32>, 4096>;

// vec4 v of weight row r of this dispatch's block (channels 4v .. 4v + 3 of the block).
fn wrow(r: u32, v: u32) -> vec4<f32> {
  return wu[1u + r * (TM / 4u) + v];
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
  let co0 = bitcast<u32>(wu[0].x);

  var s$i_$q = 0.0;
  var u$i_$q = 0.0;
  for (var ci = 0u; ci < CI; ci++) {
    let plane = (image * CI + ci) * H * W;
    for (var ky = 0u; ky < KS; ky++) {
      let iy = i32(row + ky) - i32(KS / 2u);
      let at = plane + u32(clamp(iy, 0, i32(H) - 1)) * W;
      let inside = iy >= 0 && iy < i32(H);
      let cx$j = i32(x0) + $j - i32(KS / 2u);
      let t$j = x[at + u32(clamp(cx$j, 0, i32(W) - 1))];
      let on$j = inside && cx$j >= 0 && cx$j < i32(W) && fired(t$j);
      let f$j = select(0.0, 1.0, on$j);
      let tt$j = select(0.0, t$j, on$j);
      let r = (ci * KS + ky) * KS;
      let w$x_$v = wrow(r + $xu, $vu);
      s$i_$q = fma(w$x_$[i/4][$[i%4]], f$[q+x], s$i_$q);
      u$i_$q = fma(w$x_$[i/4][$[i%4]], tt$[q+x], u$i_$q);
    }
  }
  let n0 = (image * H + row) * W + x0;
  if (valid && co0 + $iu < CO && x0 + $qu < W) { finish(co0 + $iu, n0 + $qu, vec2<f32>(s$i_$q, u$i_$q)); }
}
