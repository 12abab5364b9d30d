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
// written. Each invocation loads the same rows of A and columns of B in every
// K slice, so `a_ctx(m)` / `b_ctx(n)` decompose those indices once (image,
// pixel, channel offsets) and `load_a` / `load_b` only add the K part.
//
// Tiling (constants BM, BN, BK, TM, TN come from the program, see
// `src/layers.ts`'s tile table): a workgroup of (BN/TN) x (BM/TM) invocations
// computes a BM x BN output tile; each invocation owns TM x TN outputs (two
// accumulators each) in vec4 groups. Its rows are the 4-row groups
// ty + g * (BM/TM) for g < TM/4 and its columns the 4-column groups
// tx + g * (BN/TN) for g < TN/4, so neighbouring invocations read neighbouring
// vec4s of workgroup memory. K advances in BK slices staged as A[BK][BM] and
// B[BK][BN]; each slice's global loads go into registers while the previous
// slice is being multiplied (one slice of prefetch). With A_DUAL (or B_DUAL) false the .y component of A (or B) equals
// .x and is staged once; with Y_USED false the second product is skipped.
// Split-K: workgroup_id.z picks a contiguous, BK-aligned slice of K out of
// num_workgroups.z; `store` receives the split index and writes partial sums
// that a later pass adds in a fixed order (deterministic, no atomics).
// Loads map consecutive invocations to consecutive k (A_K_FAST / B_K_FAST) or
// to consecutive m / n, whichever is contiguous in memory for the operation.
// Precision: ST is the type of the staged tiles and of the running sums
// (`alias ST = f32;` or, with `enable f16;`, `f16`). With MIXED = 1 the f16
// sums cover one K slice and are added into float32 accumulators after each
// slice, so rounding error grows with BK, not with K.

override A_DUAL: bool = false;
override B_DUAL: bool = false;
override Y_USED: bool = true;
override A_K_FAST: bool = true;
override B_K_FAST: bool = false;

const THREADS: u32 = (BM / TM) * (BN / TN);
const LOADS_A: u32 = (BM * BK) / THREADS;
const LOADS_B: u32 = (BN * BK) / THREADS;
const GM: u32 = TM / 4u; // row groups per invocation
const GN: u32 = TN / 4u; // column groups per invocation

var<workgroup> as_x: array<vec4<ST>, BK * BM / 4u>; // [BK][BM/4]
var<workgroup> as_y: array<vec4<ST>, BK * BM / 4u>;
var<workgroup> bs_x: array<vec4<ST>, BK * BN / 4u>; // [BK][BN/4]
var<workgroup> bs_y: array<vec4<ST>, BK * BN / 4u>;

@compute @workgroup_size(BN / TN, BM / TM, 1)
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

  // Per-invocation load slots: slot r loads element e = tid + THREADS r of a tile.
  var a_m: array<u32, LOADS_A>;
  var a_k: array<u32, LOADS_A>;
  var a_c: array<vec4<u32>, LOADS_A>;
  for (var r = 0u; r < LOADS_A; r++) {
    let e = tid + r * THREADS;
    if (A_K_FAST) { a_k[r] = e % BK; a_m[r] = e / BK; } else { a_m[r] = e % BM; a_k[r] = e / BM; }
    a_c[r] = a_ctx(m0 + a_m[r]);
  }
  var b_n: array<u32, LOADS_B>;
  var b_k: array<u32, LOADS_B>;
  var b_c: array<vec4<u32>, LOADS_B>;
  for (var r = 0u; r < LOADS_B; r++) {
    let e = tid + r * THREADS;
    if (B_K_FAST) { b_k[r] = e % BK; b_n[r] = e / BK; } else { b_n[r] = e % BN; b_k[r] = e / BN; }
    b_c[r] = b_ctx(n0 + b_n[r]);
  }

  var sum_x: array<vec4<ST>, TM * GN>; // [row i][column group g]: running sums
  var sum_y: array<vec4<ST>, TM * GN>;
  var acc_x: array<vec4<f32>, TM * GN>; // MIXED: float32 totals of the slices
  var acc_y: array<vec4<f32>, TM * GN>;
  for (var i = 0u; i < TM * GN; i++) {
    sum_x[i] = vec4<ST>(0.0);
    sum_y[i] = vec4<ST>(0.0);
    acc_x[i] = vec4<f32>(0.0);
    acc_y[i] = vec4<f32>(0.0);
  }

  // Register prefetch: the next slice's global loads are issued before the
  // current slice's arithmetic, so their latency overlaps it.
  var ra: array<vec2<f32>, LOADS_A>;
  var rb: array<vec2<f32>, LOADS_B>;
  for (var r = 0u; r < LOADS_A; r++) {
    ra[r] = vec2<f32>(0.0);
    if (m0 + a_m[r] < M && k_begin + a_k[r] < k_end) { ra[r] = load_a(a_c[r], k_begin + a_k[r]); }
  }
  for (var r = 0u; r < LOADS_B; r++) {
    rb[r] = vec2<f32>(0.0);
    if (n0 + b_n[r] < N && k_begin + b_k[r] < k_end) { rb[r] = load_b(b_c[r], k_begin + b_k[r]); }
  }

  for (var kt = k_begin; kt < k_end; kt += BK) {
    for (var r = 0u; r < LOADS_A; r++) {
      let ai = a_k[r] * BM + a_m[r];
      as_x[ai / 4u][ai % 4u] = ST(ra[r].x);
      if (A_DUAL) { as_y[ai / 4u][ai % 4u] = ST(ra[r].y); }
    }
    for (var r = 0u; r < LOADS_B; r++) {
      let bi = b_k[r] * BN + b_n[r];
      bs_x[bi / 4u][bi % 4u] = ST(rb[r].x);
      if (B_DUAL) { bs_y[bi / 4u][bi % 4u] = ST(rb[r].y); }
    }
    workgroupBarrier();
    let kn = kt + BK;
    for (var r = 0u; r < LOADS_A; r++) {
      ra[r] = vec2<f32>(0.0);
      if (m0 + a_m[r] < M && kn + a_k[r] < k_end) { ra[r] = load_a(a_c[r], kn + a_k[r]); }
    }
    for (var r = 0u; r < LOADS_B; r++) {
      rb[r] = vec2<f32>(0.0);
      if (n0 + b_n[r] < N && kn + b_k[r] < k_end) { rb[r] = load_b(b_c[r], kn + b_k[r]); }
    }
    for (var k = 0u; k < BK; k++) {
      var bx: array<vec4<ST>, GN>;
      var by: array<vec4<ST>, GN>;
      for (var g = 0u; g < GN; g++) {
        bx[g] = bs_x[k * (BN / 4u) + lid.x + g * (BN / TN)];
        if (B_DUAL) { by[g] = bs_y[k * (BN / 4u) + lid.x + g * (BN / TN)]; } else { by[g] = bx[g]; }
      }
      for (var gm = 0u; gm < GM; gm++) {
        let ax = as_x[k * (BM / 4u) + lid.y + gm * (BM / TM)];
        var ay = ax;
        if (A_DUAL) { ay = as_y[k * (BM / 4u) + lid.y + gm * (BM / TM)]; }
        for (var j = 0u; j < 4u; j++) {
          let i = (gm * 4u + j) * GN;
          for (var g = 0u; g < GN; g++) {
            sum_x[i + g] = fma(vec4<ST>(ax[j]), bx[g], sum_x[i + g]);
            if (Y_USED) { sum_y[i + g] = fma(vec4<ST>(ay[j]), by[g], sum_y[i + g]); }
          }
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
    workgroupBarrier();
  }
  if (MIXED == 0u) {
    for (var i = 0u; i < TM * GN; i++) {
      acc_x[i] = vec4<f32>(sum_x[i]);
      acc_y[i] = vec4<f32>(sum_y[i]);
    }
  }

  for (var gm = 0u; gm < GM; gm++) {
    for (var j = 0u; j < 4u; j++) {
      let m = m0 + (lid.y + gm * (BM / TM)) * 4u + j;
      if (m >= M) { continue; }
      let i = (gm * 4u + j) * GN;
      for (var g = 0u; g < GN; g++) {
        let nb = n0 + (lid.x + g * (BN / TN)) * 4u;
        for (var c = 0u; c < 4u; c++) {
          if (nb + c < N) { store(m, nb + c, vec2<f32>(acc_x[i + g][c], acc_y[i + g][c]), wg.z); }
        }
      }
    }
  }
}
