// stats.wgsl: per-layer spike statistics, accumulated on the GPU and read
// once per epoch. Two entry points, run back to back for each layer:
//   `partial`: workgroup g reduces elements [g*CHUNK, (g+1)*CHUNK) of the
//     layer's spike times to (count fired, sum of tau, 16-bin histogram of tau
//     over [0, T]) in part[g]; the histogram uses workgroup integer atomics
//     (exact), the sums a fixed tree.
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

var<workgroup> red_n: array<f32, 256>;
var<workgroup> red_s: array<f32, 256>;
var<workgroup> hist: array<atomic<u32>, 16>;
var<workgroup> red_h: array<array<f32, 16>, 16>;

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) tid: u32) {
  let g = wg.x + wg.y * nwg.x;
  let total = step.batch * NEURONS;
  if (tid < BINS) { atomicStore(&hist[tid], 0u); }
  workgroupBarrier();
  var n = 0.0;
  var s = 0.0;
  let begin = g * CHUNK;
  let end = min(begin + CHUNK, total);
  for (var i = begin + tid; i < end; i += 256u) {
    let v = t[i];
    if (fired(v)) {
      n += 1.0;
      s += v;
      let bin = min(u32(max(v, 0.0) / TWIN * f32(BINS)), BINS - 1u);
      atomicAdd(&hist[bin], 1u);
    }
  }
  red_n[tid] = n;
  red_s[tid] = s;
  workgroupBarrier();
  for (var k = 128u; k > 0u; k >>= 1u) {
    if (tid < k) {
      red_n[tid] += red_n[tid + k];
      red_s[tid] += red_s[tid + k];
    }
    workgroupBarrier();
  }
  if (tid == 0u) {
    part[g * REC] = red_n[0];
    part[g * REC + 1u] = red_s[0];
  }
  if (tid < BINS) { part[g * REC + 2u + tid] = f32(atomicLoad(&hist[tid])); }
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
