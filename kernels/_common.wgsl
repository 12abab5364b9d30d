// _common.wgsl: declarations every kernel shares (prepended to each program).
//
// `Step` holds the values that change from one training step to the next. It
// lives in a ring of 256-byte entries bound with a dynamic offset, so many
// steps can be encoded into one command buffer without host round trips.
// A spike time at or above FIRED_LIMIT means "no spike": buffers hold NO_SPIKE
// there (the host converts it to and from Infinity), never an actual infinity.

struct Step {
  batch: u32,          // samples in this step
  sample_offset: u32,  // first position in the epoch's index list
  adam_step: u32,      // 1-based optimiser step
  seed: u32,           // augmentation seed
  epoch: u32,          // epoch number (augmentation stream)
  flags: u32,          // augmentation flags
  metric_slot: u32,    // which accumulator (train, validation, test, ...)
  pad0: u32,
  lr: f32,             // learning rate of this step
  bc1: f32,            // 1 - beta1^step, computed in float64 on the host
  bc2: f32,            // 1 - beta2^step
  pad1: f32,
}

@group(0) @binding(0) var<uniform> step: Step;

const NO_SPIKE: f32 = 1e30;
const FIRED_LIMIT: f32 = 1e29;

fn fired(t: f32) -> bool {
  return t < FIRED_LIMIT;
}
