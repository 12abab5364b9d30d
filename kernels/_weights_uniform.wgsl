// _weights_uniform.wgsl: `weight(i)`, the i-th weight of the layer, read from
// uniform windows over the parameter buffer: window u (group 2, binding u)
// holds weights u * 16384 .. u * 16384 + 16383 (64 KiB, WebGPU's default
// uniform binding size). For CPU drivers: llvmpipe reads a uniform at an
// index the same for all lanes (a GEMM row shared by a workgroup whose lanes
// lie along N) as one scalar load, where a storage read is a loop over the
// lanes (`_gemm_direct.wgsl`); a micro-benchmark ran a GEMM 1.85x faster so.
// The lines naming `$u` are written once per window (`expandRepeats`).

@group(2) @binding($u) var<uniform> wu$u: array<vec4<f32>, 4096>;

fn weight(i: u32) -> f32 {
  let j = i % 16384u;
  switch (i / 16384u) {
    case $uu: { return wu$u[j / 4u][j % 4u]; }
    default: { return 0.0; }
  }
}
