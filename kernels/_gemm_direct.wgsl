// _gemm_direct.wgsl: the product of `_gemm.wgsl`, through the same hooks
// (`gemm_dims`, `a_ctx`, `load_a`, `b_ctx`, `load_b`, `store`), without
// workgroup memory or barriers: for CPU drivers (Mesa's llvmpipe, lavapipe).
//
// A CPU driver runs a workgroup's invocations as SIMD lanes of one thread.
// There a storage-buffer read is a loop over the lanes (each lane's index
// checked against the buffer's size, its value inserted into the vector) and
// costs tens of cycles, while an FMA on all lanes costs one: what counts is
// FMAs per read. Each invocation therefore owns a TM x TN block of outputs in
// scalar registers: per k it reads TM values of A and TN of B and does
// TM * TN (dual: twice as many) FMAs. Arrays indexed in loops would not stay
// in registers on that compiler, so the block is written out: a line that
// names `$i` is repeated for i < TM, one that names `$q` for q < TN (both:
// for every pair), by `expandRepeats` (src/engine/kernels.ts). A barrier
// would make the driver split the kernel into resumable pieces that keep
// every register (minutes of compilation); the CPU's caches already hold what
// a workgroup shares, so there is none.
//
// Tiling: a workgroup of (BN/TN) x (BM/TM) invocations covers a BM x BN
// output tile; invocation (x, y) owns rows m0 + y + i * (BM/TM) and columns
// n0 + x + q * (BN/TN). Rows past M and columns past N compute on row M - 1
// and column N - 1 (in bounds, so no branch around the reads) and are never
// stored. Split-K as in `_gemm.wgsl`: BK-aligned slices of K over
// workgroup_id.z. Per output the additions run k ascending (with MIXED, per
// BK slice in ST, added into float32 totals), so both cores give the same
// sums (the tiled core's masked zero products aside, which can only turn a
// -0 into +0).

override A_DUAL: bool = false;
override B_DUAL: bool = false;
override Y_USED: bool = true;
override A_K_FAST: bool = true; // unused here: kept so both cores take the same constants
override B_K_FAST: bool = false;

@compute @workgroup_size(BN / TN, BM / TM, 1)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let dims = gemm_dims();
  let M = dims.x;
  let N = dims.y;
  let K = dims.z;
  let tiles = (K + BK - 1u) / BK;
  let per_split = (tiles + nwg.z - 1u) / nwg.z;
  let k_begin = min(wg.z * per_split * BK, K);
  let k_end = min(k_begin + per_split * BK, K);

  let m$i = wg.y * BM + lid.y + $iu * (BM / TM);
  let a_c$i = a_ctx(min(m$i, M - 1u));
  let n$q = wg.x * BN + lid.x + $qu * (BN / TN);
  let b_c$q = b_ctx(min(n$q, N - 1u));

  var sx$i_$q = ST(0.0);
  var sy$i_$q = ST(0.0);
  var tx$i_$q = 0.0;
  var ty$i_$q = 0.0;

  for (var kt = k_begin; kt < k_end; kt += BK) {
    let ke = min(kt + BK, k_end);
    for (var k = kt; k < ke; k++) {
      let b$q = load_b(b_c$q, k);
      let bx$q = ST(b$q.x);
      let by$q = ST(select(b$q.x, b$q.y, B_DUAL));
      let a$i = load_a(a_c$i, k);
      let ax$i = ST(a$i.x);
      let ay$i = ST(select(a$i.x, a$i.y, A_DUAL));
      sx$i_$q = fma(ax$i, bx$q, sx$i_$q);
      if (Y_USED) { sy$i_$q = fma(ay$i, by$q, sy$i_$q); }
    }
    if (MIXED == 1u) {
      tx$i_$q += f32(sx$i_$q);
      ty$i_$q += f32(sy$i_$q);
      sx$i_$q = ST(0.0);
      sy$i_$q = ST(0.0);
    }
  }
  if (MIXED == 0u) {
    tx$i_$q = f32(sx$i_$q);
    ty$i_$q = f32(sy$i_$q);
  }

  if (m$i < M && n$q < N) { store(m$i, n$q, vec2<f32>(tx$i_$q, ty$i_$q), wg.z); }
}
