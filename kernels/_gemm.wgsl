// _gemm.wgsl: the tiled GEMM core shared by every convolution and fully
// connected kernel (forward, input gradient, weight gradient).
//
// Computes, for m < M, n < N, two sums over k in this workgroup's K range:
//   acc.x = sum_k a(m,k).x * b(k,n).x
//   acc.y = sum_k a(m,k).y * b(k,n).y
// where `gemm_dims`, `a_ctx`, `load_a`, `b_ctx`, `load_b` and `store` are
// hooks that the operation's file defines (it is concatenated before this
// core). The hooks turn the product into an implicit GEMM: im2col indexing,
// masks and the spike-time epilogue live there, so no im2col buffer is ever
// written. Each invocation loads the same 4 rows of A and 4 columns of B in
// every K slice, so `a_ctx(m)` / `b_ctx(n)` decompose those indices once
// (image, pixel, channel offsets) and `load_a` / `load_b` only add the K part.
//
// Tiling: a 16x16 workgroup computes a BM x BN = 64 x 64 output tile; each
// invocation owns a 4x4 register block (two accumulators each). K advances in
// BK = 16 slices staged through workgroup memory: A as [BK][BM], B as [BK][BN],
// so the inner loop reads four consecutive values of each with vec4 loads.
// With A_DUAL (or B_DUAL) false the .y component of A (or B) equals .x and is
// staged once. With Y_USED false the second product is skipped entirely.
// Split-K: workgroup_id.z picks a contiguous, BK-aligned slice of K out of
// num_workgroups.z; `store` receives the split index and writes partial sums
// that a later pass adds in a fixed order (deterministic, no atomics).
// Loads map consecutive invocations to consecutive k (A_K_FAST / B_K_FAST) or
// to consecutive m / n, whichever is contiguous in memory for the operation.

override A_DUAL: bool = false;
override B_DUAL: bool = false;
override Y_USED: bool = true;
override A_K_FAST: bool = true;
override B_K_FAST: bool = false;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

var<workgroup> as_x: array<vec4<f32>, 256>; // [BK][BM/4]
var<workgroup> as_y: array<vec4<f32>, 256>;
var<workgroup> bs_x: array<vec4<f32>, 256>; // [BK][BN/4]
var<workgroup> bs_y: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16, 1)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(local_invocation_index) tid: u32,
) {
  let dims = gemm_dims();
  let M = dims.x;
  let N = dims.y;
  let K = dims.z;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  // This split's K range, aligned to BK.
  let tiles = (K + BK - 1u) / BK;
  let per_split = (tiles + nwg.z - 1u) / nwg.z;
  let k_begin = min(wg.z * per_split * BK, K);
  let k_end = min(k_begin + per_split * BK, K);

  // Per-invocation load slots: slot r loads element e = tid + 256 r of each tile.
  var a_m: array<u32, 4>;
  var a_k: array<u32, 4>;
  var a_c: array<vec4<u32>, 4>;
  var b_n: array<u32, 4>;
  var b_k: array<u32, 4>;
  var b_c: array<vec4<u32>, 4>;
  for (var r = 0u; r < 4u; r++) {
    let e = tid + r * 256u;
    if (A_K_FAST) { a_k[r] = e % BK; a_m[r] = e / BK; } else { a_m[r] = e % BM; a_k[r] = e / BM; }
    a_c[r] = a_ctx(m0 + a_m[r]);
    if (B_K_FAST) { b_k[r] = e % BK; b_n[r] = e / BK; } else { b_n[r] = e % BN; b_k[r] = e / BN; }
    b_c[r] = b_ctx(n0 + b_n[r]);
  }

  var acc_x: array<vec4<f32>, 4>;
  var acc_y: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) {
    acc_x[i] = vec4<f32>(0.0);
    acc_y[i] = vec4<f32>(0.0);
  }

  for (var kt = k_begin; kt < k_end; kt += BK) {
    // Stage A and B tiles (4 elements per invocation each), zero outside.
    for (var r = 0u; r < 4u; r++) {
      let km = a_k[r];
      let mm = a_m[r];
      var av = vec2<f32>(0.0);
      if (m0 + mm < M && kt + km < k_end) { av = load_a(a_c[r], kt + km); }
      let ai = km * BM + mm;
      as_x[ai / 4u][ai % 4u] = av.x;
      if (A_DUAL) { as_y[ai / 4u][ai % 4u] = av.y; }
      let kn = b_k[r];
      let nn = b_n[r];
      var bv = vec2<f32>(0.0);
      if (n0 + nn < N && kt + kn < k_end) { bv = load_b(b_c[r], kt + kn); }
      let bi = kn * BN + nn;
      bs_x[bi / 4u][bi % 4u] = bv.x;
      if (B_DUAL) { bs_y[bi / 4u][bi % 4u] = bv.y; }
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let a4x = as_x[k * (BM / 4u) + lid.y];
      let b4x = bs_x[k * (BN / 4u) + lid.x];
      var a4y = a4x;
      var b4y = b4x;
      if (A_DUAL) { a4y = as_y[k * (BM / 4u) + lid.y]; }
      if (B_DUAL) { b4y = bs_y[k * (BN / 4u) + lid.x]; }
      acc_x[0] = fma(vec4<f32>(a4x.x), b4x, acc_x[0]);
      acc_x[1] = fma(vec4<f32>(a4x.y), b4x, acc_x[1]);
      acc_x[2] = fma(vec4<f32>(a4x.z), b4x, acc_x[2]);
      acc_x[3] = fma(vec4<f32>(a4x.w), b4x, acc_x[3]);
      if (Y_USED) {
        acc_y[0] = fma(vec4<f32>(a4y.x), b4y, acc_y[0]);
        acc_y[1] = fma(vec4<f32>(a4y.y), b4y, acc_y[1]);
        acc_y[2] = fma(vec4<f32>(a4y.z), b4y, acc_y[2]);
        acc_y[3] = fma(vec4<f32>(a4y.w), b4y, acc_y[3]);
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let m = m0 + lid.y * 4u + i;
    if (m >= M) { break; }
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + lid.x * 4u + j;
      if (n < N) { store(m, n, vec2<f32>(acc_x[i][j], acc_y[i][j]), wg.z); }
    }
  }
}
