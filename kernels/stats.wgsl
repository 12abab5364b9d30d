// stats.wgsl: per-layer spike statistics, accumulated on the GPU and read
// once per epoch. Two entry points, run back to back for each layer:
//   `partial`: workgroup g reduces elements [g*CHUNK, (g+1)*CHUNK) of the
//     layer's spike times to (count fired, sum of tau, 16-bin histogram of tau
//     over [0, T]) in part[g]: each of its 64 invocations counts its share in
//     registers, then after one barrier invocation f < 18 adds field f of the
//     64 shares in order (exact counts, deterministic sums). No atomics and no
//     tree of barriers: a CPU driver compiles each barrier as a split of the
//     kernel, and the former tree took it tens of seconds.
//   `finish`: one workgroup adds the partials in a fixed order into
//     acc[(slot * NLAYERS + LAYER) * 18 ..] = count, tau sum, hist[16].

override NEURONS: u32 = 1u;   // neurons per sample
override TWIN: f32 = 1.0;
override LAYER: u32 = 0u;
override NLAYERS: u32 = 1u;

const CHUNK: u32 = 4096u;
const BINS: u32 = 16u;
const REC: u32 = 18u;

@group(1) @binding(0) var<storage, read> t: array<f32>;
@group(1) @binding(1) var<storage, read_write> part: array<f32>; // [groups, REC]
@group(1) @binding(2) var<storage, read_write> acc: array<f32>;  // [slots, NLAYERS, REC]

const LANES: u32 = 64u;

var<workgroup> shares: array<array<f32, REC>, LANES>; // partial: per invocation
var<workgroup> red_n: array<f32, 256>;                // finish
var<workgroup> red_s: array<f32, 256>;
var<workgroup> red_h: array<array<f32, 16>, 16>;

@compute @workgroup_size(64)
fn partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) tid: u32) {
  let g = wg.x + wg.y * nwg.x;
  let total = step.batch * NEURONS;
  var share: array<f32, REC>; // count, tau sum, histogram
  for (var f = 0u; f < REC; f++) { share[f] = 0.0; }
  let begin = g * CHUNK;
  let end = min(begin + CHUNK, total);
  for (var i = begin + tid; i < end; i += LANES) {
    let v = t[i];
    if (fired(v)) {
      share[0] += 1.0;
      share[1] += v;
      let bin = min(u32(max(v, 0.0) / TWIN * f32(BINS)), BINS - 1u);
      share[2u + bin] += 1.0;
    }
  }
  shares[tid] = share;
  workgroupBarrier();
  if (tid < REC) {
    var sum = 0.0;
    for (var l = 0u; l < LANES; l++) { sum += shares[l][tid]; }
    part[g * REC + tid] = sum;
  }
}

@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_index) tid: u32) {
  let groups = (step.batch * NEURONS + CHUNK - 1u) / CHUNK;
  // Lane l (of 16) sums partials l, l + 16, ...; field f its histogram bin f
  // (field 0 also the count and the tau sum); then a fixed combine over lanes.
  let lane = tid / 16u;
  let field = tid % 16u;
  var h = 0.0;
  var n = 0.0;
  var s = 0.0;
  for (var g = lane; g < groups; g += 16u) {
    h += part[g * REC + 2u + field];
    if (field == 0u) {
      n += part[g * REC];
      s += part[g * REC + 1u];
    }
  }
  red_h[lane][field] = h;
  if (field == 0u) {
    red_n[lane] = n;
    red_s[lane] = s;
  }
  workgroupBarrier();
  if (tid < 16u) {
    var hs = 0.0;
    for (var l = 0u; l < 16u; l++) { hs += red_h[l][tid]; }
    let o = (step.metric_slot * NLAYERS + LAYER) * REC;
    acc[o + 2u + tid] += hs;
    if (tid == 0u) {
      var ns = 0.0;
      var ss = 0.0;
      for (var l = 0u; l < 16u; l++) {
        ns += red_n[l];
        ss += red_s[l];
      }
      acc[o] += ns;
      acc[o + 1u] += ss;
    }
  }
}
