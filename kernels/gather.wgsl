// gather.wgsl: a batch of u8 images from the GPU dataset into the model's
// intensities, without augmentation: out[b, i] = images[indices[offset + b]][i]
// / 255 (exactly, see `_bytes.wgsl`), for b < params.batch.
//
// It is what `augment.wgsl` computes with flags 0, as a kernel a CPU driver
// compiles at once: no workgroup memory, no barriers. The training loop uses
// it for evaluation and for training without augmentation.
//   bindings and dispatch: as `augment.wgsl` (one workgroup of 256 per sample,
//   (min(batch, 65535), ceil(batch / 65535)) workgroups); override N = C*H*W.

struct Params {
  batch: u32,
  offset: u32,
  seed: u32,
  epoch: u32,
  flags: u32,
}

override N: u32 = 784u;

@group(0) @binding(0) var<storage, read> images: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) t: u32,
) {
  let b = wid.x + wid.y * nwg.x;
  if (b >= params.batch) {
    return;
  }
  let base = indices[params.offset + b] * N;
  for (var i = t; i < N; i += 256u) {
    out[b * N + i] = to_unit(image_byte(base + i));
  }
}
