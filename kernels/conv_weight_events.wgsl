// conv_weight_events.wgsl: a spiking layer's weight gradient from its events
// (`grad_events.wgsl`): the product of `conv_backward_weight.wgsl` over the
// output neurons that pass a gradient only.
//
//   dW[co][ci][ky][kx] = sum over events (b, p) of plane (b, co), in order,
//     G.x * t_i * fired_i  +  G.y * fired_i,   i = (b, ci, p + (ky, kx) - KS/2),
//
// (padding and silent inputs add nothing). A neuron without an event has
// G = 0 and adds exactly nothing to the dense sums, so running over the events
// in ascending k = b * H * W + p, with the same fma per term and the same K
// splits (BK-aligned ranges over workgroup_id.z, partial sums into `part`,
// added by `reduce_splits.wgsl`), gives the dense kernel's sums bit for bit
// (with MIXED: the same per-BK-slice ST sums added into float32 totals).
// The work is proportional to the events, not to the neurons.
//
// Tiling: one invocation per output channel co and TC input channels, all
// KS * KS taps: TC * KS * KS pairs of accumulators in registers, written out
// by `expandRepeats` (lines naming `$c` repeat for c < TC, lines naming `$r`
// for r < KS * KS). Per event it reads the event's pixel, its G and
// TC * KS * KS input times. Lanes lie along M (ALONG_CI 0: each lane its own
// output channel and event list; the SIMD loop runs as long as the longest
// list) or along the input channels (ALONG_CI 1: the lanes of a workgroup
// share one output channel and its list, each its own TC channels: no lane
// waits, when there are channels enough for the lanes).
// Workgroups: [ceil(CI / TC), ceil(CO / LANES), splits], or with ALONG_CI
// [ceil(CI / (TC * LANES)), CO, splits].

override CI: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override CO: u32 = 1u;
override KS: u32 = 1u;

@group(1) @binding(0) var<storage, read> x: array<f32>;          // [B, CI, H, W] input times
@group(1) @binding(1) var<storage, read> gfac: array<vec2<f32>>; // [B, CO, H, W]: G at events
@group(1) @binding(2) var<storage, read> act: array<u32>;        // [B * CO, H * W] event pixels
@group(1) @binding(3) var<storage, read> count: array<u32>;      // [B * CO]
@group(1) @binding(4) var<storage, read_write> part: array<f32>; // [splits, CO, CI * KS * KS]

@compute @workgroup_size(LANES, 1, 1)
fn main(
  @builtin(workgroup_id) wg: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let HW = H * W;
  let KK = KS * KS;
  let co = select(wg.y * LANES + lid.x, wg.y, ALONG_CI == 1u);
  let m = min(co, CO - 1u);
  let c0 = select(wg.x, wg.x * LANES + lid.x, ALONG_CI == 1u) * TC;
  // This split's K range, as the dense core computes it.
  let K = step.batch * HW;
  let tiles = (K + BK - 1u) / BK;
  let per_split = (tiles + nwg.z - 1u) / nwg.z;
  let k_begin = min(wg.z * per_split * BK, K);
  let k_end = min(k_begin + per_split * BK, K);

  // Tap r: its row and column shift, and each channel's plane offset in an image.
  let dy$r = i32($ru / KS) - i32(KS / 2u);
  let dx$r = i32($ru % KS) - i32(KS / 2u);
  let cp$c = min(c0 + $cu, CI - 1u) * HW;

  var sx$c_$r = ST(0.0);
  var sy$c_$r = ST(0.0);
  var tx$c_$r = 0.0;
  var ty$c_$r = 0.0;
  var cur = k_begin / BK;

  if (k_begin < k_end) {
    for (var b = k_begin / HW; b * HW < k_end; b++) {
      // Pixels of image b inside [k_begin, k_end): [lo, hi).
      let lo = max(k_begin, b * HW) - b * HW;
      let hi = min(k_end, (b + 1u) * HW) - b * HW;
      let plane = b * CO + m;
      let n = count[plane];
      let xb = b * CI * HW;
      for (var e = 0u; e < n; e++) {
        let p = act[plane * HW + e];
        if (p - lo >= hi - lo) { continue; } // outside this split (p < lo wraps around)
        if (MIXED == 1u) {
          let s = (b * HW + p) / BK;
          if (s != cur) {
            tx$c_$r += f32(sx$c_$r);
            ty$c_$r += f32(sy$c_$r);
            sx$c_$r = ST(0.0);
            sy$c_$r = ST(0.0);
            cur = s;
          }
        }
        let g = gfac[plane * HW + p];
        let gx = ST(g.x);
        let gy = ST(g.y);
        let py = i32(p / W);
        let px = i32(p % W);
        let iy$r = py + dy$r;
        let ix$r = px + dx$r;
        let ok$r = iy$r >= 0 && ix$r >= 0 && iy$r < i32(H) && ix$r < i32(W);
        let at$r = u32(clamp(iy$r, 0, i32(H) - 1)) * W + u32(clamp(ix$r, 0, i32(W) - 1));
        let t$c_$r = x[xb + cp$c + at$r];
        let f$c_$r = ok$r && fired(t$c_$r);
        sx$c_$r = fma(gx, ST(select(0.0, t$c_$r, f$c_$r)), sx$c_$r);
        sy$c_$r = fma(gy, ST(select(0.0, 1.0, f$c_$r)), sy$c_$r);
      }
    }
  }
  if (MIXED == 1u) {
    tx$c_$r += f32(sx$c_$r);
    ty$c_$r += f32(sy$c_$r);
  } else {
    tx$c_$r = f32(sx$c_$r);
    ty$c_$r = f32(sy$c_$r);
  }
  let row = (wg.z * CO + co) * CI * KK;
  if (co < CO && c0 + $cu < CI) { part[row + (c0 + $cu) * KK + $ru] = tx$c_$r + ty$c_$r; }
}
