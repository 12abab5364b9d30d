// _gemm_direct.wgsl: the product of `_gemm.wgsl`, through the same hooks
// (`gemm_dims`, `a_ctx`, `load_a`, `b_ctx`, `load_b`, `store`), without
// workgroup memory or barriers: for CPU drivers (Mesa's lavapipe).
//
// A CPU driver runs a workgroup's invocations as SIMD lanes of one thread,
// and a barrier makes it split the kernel into resumable pieces that keep
// every invocation's registers: the tiled core's staging, prefetch and
// barriers cost minutes of compilation there and buy nothing, since the
// CPU's caches already hold what a workgroup shares. Here each invocation
// loads its own operands straight from the buffers.
//
// Tiling: the same ownership as `_gemm.wgsl` (a workgroup of (BN/TN) x
// (BM/TM) invocations covers a BM x BN output tile; an invocation owns the
// 4-row groups ty + g * (BM/TM) for g < TM/4 and the 4-column groups
// tx + g * (BN/TN) for g < TN/4), the same split-K ranges (BK-aligned slices
// of K over workgroup_id.z) and the same order of additions per output (k
// ascending; with MIXED, per-slice sums added into float32 totals), so both
// cores give the same sums (the tiled core's masked zero products aside,
// which can only turn a -0 into +0).

override A_DUAL: bool = false;
override B_DUAL: bool = false;
override Y_USED: bool = true;
override A_K_FAST: bool = true; // unused here: kept so both cores take the same constants
override B_K_FAST: bool = false;

const GM: u32 = TM / 4u; // row groups per invocation
const GN: u32 = TN / 4u; // column groups per invocation

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
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let tiles = (K + BK - 1u) / BK;
  let per_split = (tiles + nwg.z - 1u) / nwg.z;
  let k_begin = min(wg.z * per_split * BK, K);
  let k_end = min(k_begin + per_split * BK, K);

  // Row i = gm * 4 + j of this invocation is m0 + (lid.y + gm * (BM/TM)) * 4 + j;
  // column q = g * 4 + c is n0 + (lid.x + g * (BN/TN)) * 4 + c.
  var a_c: array<vec4<u32>, TM>;
  var a_ok: array<bool, TM>;
  for (var i = 0u; i < TM; i++) {
    let m = m0 + (lid.y + (i / 4u) * (BM / TM)) * 4u + i % 4u;
    a_ok[i] = m < M;
    if (a_ok[i]) { a_c[i] = a_ctx(m); }
  }
  var b_c: array<vec4<u32>, TN>;
  var b_ok: array<bool, TN>;
  for (var q = 0u; q < TN; q++) {
    let n = n0 + (lid.x + (q / 4u) * (BN / TN)) * 4u + q % 4u;
    b_ok[q] = n < N;
    if (b_ok[q]) { b_c[q] = b_ctx(n); }
  }

  var sum_x: array<vec4<ST>, TM * GN>;
  var sum_y: array<vec4<ST>, TM * GN>;
  var acc_x: array<vec4<f32>, TM * GN>;
  var acc_y: array<vec4<f32>, TM * GN>;
  for (var i = 0u; i < TM * GN; i++) {
    sum_x[i] = vec4<ST>(0.0);
    sum_y[i] = vec4<ST>(0.0);
    acc_x[i] = vec4<f32>(0.0);
    acc_y[i] = vec4<f32>(0.0);
  }

  for (var kt = k_begin; kt < k_end; kt += BK) {
    let ke = min(kt + BK, k_end);
    for (var k = kt; k < ke; k++) {
      var bx: array<vec4<ST>, GN>;
      var by: array<vec4<ST>, GN>;
      for (var q = 0u; q < TN; q++) {
        var v = vec2<f32>(0.0);
        if (b_ok[q]) { v = load_b(b_c[q], k); }
        bx[q / 4u][q % 4u] = ST(v.x);
        by[q / 4u][q % 4u] = ST(select(v.x, v.y, B_DUAL));
      }
      for (var i = 0u; i < TM; i++) {
        var a = vec2<f32>(0.0);
        if (a_ok[i]) { a = load_a(a_c[i], k); }
        let ax = vec4<ST>(ST(a.x));
        let ay = vec4<ST>(ST(select(a.x, a.y, A_DUAL)));
        for (var g = 0u; g < GN; g++) {
          sum_x[i * GN + g] = fma(ax, bx[g], sum_x[i * GN + g]);
          if (Y_USED) { sum_y[i * GN + g] = fma(ay, by[g], sum_y[i * GN + g]); }
        }
      }
    }
    if (MIXED == 1u) {
      for (var i = 0u; i < TM * GN; i++) {
        acc_x[i] += vec4<f32>(sum_x[i]);
        sum_x[i] = vec4<ST>(0.0);
        if (Y_USED) {
          acc_y[i] += vec4<f32>(sum_y[i]);
          sum_y[i] = vec4<ST>(0.0);
        }
      }
    }
  }
  if (MIXED == 0u) {
    for (var i = 0u; i < TM * GN; i++) {
      acc_x[i] = vec4<f32>(sum_x[i]);
      acc_y[i] = vec4<f32>(sum_y[i]);
    }
  }

  for (var i = 0u; i < TM; i++) {
    if (!a_ok[i]) { continue; }
    let m = m0 + (lid.y + (i / 4u) * (BM / TM)) * 4u + i % 4u;
    for (var g = 0u; g < GN; g++) {
      let nb = n0 + (lid.x + g * (BN / TN)) * 4u;
      for (var c = 0u; c < 4u; c++) {
        if (nb + c < N) { store(m, nb + c, vec2<f32>(acc_x[i * GN + g][c], acc_y[i * GN + g][c]), wg.z); }
      }
    }
  }
}
