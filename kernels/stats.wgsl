// stats.wgsl: per-layer spike statistics, accumulated on the GPU and read
// once per epoch. Two entry points, run back to back for each layer:
//   `partial`: workgroup g reduces elements [g*CHUNK, (g+1)*CHUNK) of the
//     layer's spike times to (count fired, sum of tau, 16-bin histogram of tau
//     over [0, T]) in part[g]: each of its 64 invocations sums its share and
//     counts its histogram in registers, without branches (16 bins of 8 bits
//     packed four to a word; `expandRepeats` writes out the lines naming `$j`
//     for the 4 words, and `$b` for their bytes), then adds its bins
//     into the workgroup's with integer atomics (exact, in any order); after
//     one barrier, invocations 0 and 1 add the 64 shares of the count and of
//     the sum in order (deterministic).
//   `finish`: one workgroup adds the partials in a fixed order (16 lanes of
//     strided partials, then the lanes in order) into
//     acc[(slot * layers + layer) * 18 ..] = count, tau sum, hist[16].
// Each kernel has one barrier and no per-invocation arrays kept across it: a
// CPU driver (lavapipe) keeps every invocation's state across a barrier, and
// a tree of barriers, or a private array copied to workgroup memory, took it
// seconds to tens of seconds to compile (this form: a tenth of a second).

// The layer's shape and place come from `info`, not from override constants,
// so one pair of pipelines serves every layer of every network (a CPU driver
// compiles each pipeline for seconds): info = (neurons per sample, layer
// index, layers in the network, bits of T).
const CHUNK: u32 = 4096u;
const BINS: u32 = 16u;
const REC: u32 = 18u;

@group(1) @binding(0) var<storage, read> t: array<f32>;
@group(1) @binding(1) var<storage, read_write> part: array<f32>; // [groups, REC]
@group(1) @binding(2) var<storage, read_write> acc: array<f32>;  // [slots, layers, REC]
@group(1) @binding(3) var<storage, read> info: vec4<u32>;

const LANES: u32 = 64u;

var<workgroup> sh_ns: array<vec2<f32>, LANES>;
var<workgroup> sh_hist: array<atomic<u32>, BINS>;
@compute @workgroup_size(64)
fn partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) tid: u32) {
  let g = wg.x + wg.y * nwg.x;
  let total = step.batch * info.x;
  let twin = bitcast<f32>(info.w);
  if (tid < BINS) { atomicStore(&sh_hist[tid], 0u); }
  workgroupBarrier();
  var n = 0.0;
  var s = 0.0;
  var h$j = 0u; // bins 4j .. 4j+3, 8 bits each (an invocation counts at most CHUNK / LANES = 64)
  let begin = g * CHUNK;
  let end = min(begin + CHUNK, total);
  for (var i = begin + tid; i < end; i += LANES) {
    let v = t[i];
    let f = fired(v);
    n += select(0.0, 1.0, f);
    s += select(0.0, v, f);
    let bin = select(BINS, min(u32(max(v, 0.0) / twin * f32(BINS)), BINS - 1u), f);
    let one = 1u << (8u * (bin % 4u));
    h$j += select(0u, one, bin / 4u == $ju);
  }
  atomicAdd(&sh_hist[$ju * 4u + $bu], (h$j >> (8u * $bu)) & 255u);
  sh_ns[tid] = vec2<f32>(n, s);
  workgroupBarrier();
  if (tid < 2u) {
    var sum = 0.0;
    for (var l = 0u; l < LANES; l++) { sum += sh_ns[l][tid]; }
    part[g * REC + tid] = sum;
  } else if (tid < REC) {
    part[g * REC + tid] = f32(atomicLoad(&sh_hist[tid - 2u]));
  }
}

var<workgroup> red: array<f32, 16u * REC>;
@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_index) tid: u32) {
  let groups = (step.batch * info.x + CHUNK - 1u) / CHUNK;
  let lane = tid / 16u;
  let field = tid % 16u;
  // 16 lanes x 18 fields = 288 > 256: fields 16 and 17 are done by field 0 and 1's invocations.
  var a = 0.0;
  var b = 0.0;
  for (var g = lane; g < groups; g += 16u) {
    a += part[g * REC + field];
    if (field < 2u) { b += part[g * REC + 16u + field]; }
  }
  red[lane * REC + field] = a;
  if (field < 2u) { red[lane * REC + 16u + field] = b; }
  workgroupBarrier();
  if (tid < REC) {
    var sum = 0.0;
    for (var l = 0u; l < 16u; l++) { sum += red[l * REC + tid]; }
    let o = (step.metric_slot * info.z + info.y) * REC;
    acc[o + tid] += sum;
  }
}
