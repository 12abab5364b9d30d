// _bytes.wgsl: reading the u8 images that live on the GPU (packed four to a
// u32, in the `images` binding of the includer) and turning a byte into the
// intensity p / 255 exactly. Shared by `augment.wgsl` and `gather.wgsl`, so
// that both give bit-identical inputs.

fn image_byte(j: u32) -> u32 {
  return (images[j >> 2u] >> ((j & 3u) * 8u)) & 255u;
}

// Exactly f32(p / 255), round to nearest: p / 255 in binary is p's 8 bits repeated forever.
fn to_unit(p: u32) -> f32 {
  if (p == 0u) {
    return 0.0;
  }
  if (p >= 255u) {
    return 1.0;
  }
  let r = p * 0x01010101u; // floor(p / 255 * 2^32)
  let sh = firstLeadingBit(r) - 23u; // keep 24 significant bits
  var m = r >> sh;
  let rem = r & ((1u << sh) - 1u);
  if (rem >= (1u << (sh - 1u))) {
    m += 1u; // the discarded tail is never exactly one half
  }
  return ldexp(f32(m), i32(sh) - 32);
}
