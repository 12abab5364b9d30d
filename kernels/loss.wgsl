// loss.wgsl: softmax cross-entropy on the readout potentials, its gradient
// dL/dU = (softmax(U) - onehot(y)) / B, and the running sums of loss and
// correct predictions (argmax, first maximum on ties) in metrics[slot].
// One workgroup of 64: invocation j handles samples j, j + 64, ...; after one
// barrier, invocation 0 adds the 64 partial sums in order, so results are
// deterministic. (No tree of barriers, and a narrow workgroup: a CPU driver
// keeps every invocation's state across a barrier; 256 invocations with a
// tree of barriers took it seconds to compile, this form a fifth of one.)
// Labels are read through the epoch's index list: y_b = labels[indices[offset + b]].
// With SPIKE_OUT the output layer spikes: the logits are -min(tau, T) (an
// output that does not fire counts as firing at the window's end), the
// prediction is the earliest spike, and du is the gradient w.r.t. tau.

override K: u32 = 10u;
override SPIKE_OUT: bool = false;
override TWIN: f32 = 1.0;

fn logit(v: f32) -> f32 {
  if (SPIKE_OUT) { return -min(v, TWIN); }
  return v;
}

@group(1) @binding(0) var<storage, read> u: array<f32>;             // [B, K]
@group(1) @binding(1) var<storage, read_write> du: array<f32>;      // [B, K]
@group(1) @binding(2) var<storage, read> labels: array<u32>;
@group(1) @binding(3) var<storage, read> indices: array<u32>;
@group(1) @binding(4) var<storage, read_write> metrics: array<f32>; // [slots, 4]

var<workgroup> red_loss: array<f32, 64>;
var<workgroup> red_hit: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) tid: u32) {
  let B = step.batch;
  let inv_b = 1.0 / f32(B);
  var loss = 0.0;
  var hits = 0.0;
  for (var b = tid; b < B; b += 64u) {
    let y = labels[indices[step.sample_offset + b]];
    let row = b * K;
    var mx = logit(u[row]);
    var arg = 0u;
    for (var k = 1u; k < K; k++) {
      let v = logit(u[row + k]);
      if (v > mx) { mx = v; arg = k; }
    }
    var sum = 0.0;
    for (var k = 0u; k < K; k++) { sum += exp(logit(u[row + k]) - mx); }
    loss += log(sum) - (logit(u[row + y]) - mx);
    hits += select(0.0, 1.0, arg == y);
    let sign = select(1.0, -1.0, SPIKE_OUT);
    for (var k = 0u; k < K; k++) {
      let p = exp(logit(u[row + k]) - mx) / sum;
      du[row + k] = sign * (p - select(0.0, 1.0, k == y)) * inv_b;
    }
  }
  red_loss[tid] = loss;
  red_hit[tid] = hits;
  workgroupBarrier();
  if (tid == 0u) {
    var total_loss = 0.0;
    var total_hits = 0.0;
    for (var i = 0u; i < 64u; i++) {
      total_loss += red_loss[i];
      total_hits += red_hit[i];
    }
    let o = step.metric_slot * 4u;
    metrics[o] += total_loss;
    metrics[o + 1u] += total_hits;
    metrics[o + 2u] += f32(B);
  }
}
