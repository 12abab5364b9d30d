// _weights_storage.wgsl: `weight(i)`, the i-th weight of the layer, read from
// the kernel's storage binding `w` (GPUs, and layers too large for
// `_weights_uniform.wgsl`).

fn weight(i: u32) -> f32 {
  return w[i];
}
