// grad_events.wgsl: a spiking layer's backward factors, folded with its
// upstream gradient, and the list of its neurons that pass a gradient.
//
// For every output neuron o of the layer (MODEL.md, event-driven backward):
//
//   G_o = dL/dtau_o * (g_I, g_S)_o          (in place in `gfac`),
//
// which is zero unless the neuron fired strictly inside its window and some
// gradient reached it. The products of the backward pass only need the
// neurons with G_o != 0 ("events"): this kernel writes, per plane (image b,
// channel co), the pixel indices of its events in ascending order into
// `act[plane * HW ..]`, their number into `count[plane]`, and adds it to the
// layer's counter `counter[LAYER]` (the measured activity that chooses sparse
// or dense products; integer adds, so exact and deterministic).
//
// Where dL/dtau comes from:
//   POOL == 0: `dy` holds the layer's own dL/dtau, [B, CO, H, W] (written by
//     the next layer's input gradient). G_o = dy_o * gfac_o for every o, as
//     `scale_grad.wgsl` computes it.
//   POOL == k > 0: the layer is followed by a k x k max pool (stride k) and
//     `dy` holds the pool's dL/dtau, [B, CO, H/k, W/k], with the pool's
//     winners `idx` (flat indices into this layer's output, or NONE). The pool
//     routes each gradient to its winner only (`pool_backward.wgsl`), so
//     G_o = dy_window * gfac_o for a winner o and 0 elsewhere: this kernel
//     replaces the pool's backward pass and the scaling, reading one value
//     per window instead of one per neuron. With DENSE it writes every
//     neuron's G (zeros included: the dense products read them all), scanning
//     the plane's pixels; without, it rewrites only the winners' entries of
//     `gfac` (the non-winners keep their forward factors, which nothing reads:
//     the products read events only), in one scan of each pooled row's
//     windows, so that the events come out in pixel order. The zeros are
//     +0 where the unfused passes wrote 0 * g (-0 for a negative factor):
//     sums and products that read them are equal as numbers.
//
// EVENTS false: counts only (no lists), for layers whose products run dense.
// One invocation per plane, which it scans serially (no barriers, no
// workgroup memory: compiles at once on a CPU driver).

override CO: u32 = 1u;
override H: u32 = 1u;
override W: u32 = 1u;
override POOL: u32 = 0u;
override DENSE: bool = true;
override EVENTS: bool = true;
override LAYER: u32 = 0u;

const NONE: u32 = 0xffffffffu;

@group(1) @binding(0) var<storage, read> dy: array<f32>;                // see above
@group(1) @binding(1) var<storage, read> idx: array<u32>;               // POOL > 0: the pool's winners
@group(1) @binding(2) var<storage, read_write> gfac: array<vec2<f32>>;  // [B, CO, H, W]
@group(1) @binding(3) var<storage, read_write> act: array<u32>;         // [B * CO, H * W]
@group(1) @binding(4) var<storage, read_write> count: array<u32>;       // [B * CO]
@group(1) @binding(5) var<storage, read_write> counter: array<atomic<u32>>; // [layers]

fn is_event(g: vec2<f32>) -> bool {
  return g.x != 0.0 || g.y != 0.0;
}

// The loops below have no branches: a CPU driver runs each invocation as a
// SIMD lane and pays for every branch (a test and a mask per lane), while a
// write that is not an event goes to the next free slot and is overwritten.
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let plane = gid.x + gid.y * nwg.x * 64u;
  if (plane >= step.batch * CO) { return; }
  let HW = H * W;
  let base = plane * HW;
  var n = 0u;
  if (POOL == 0u) {
    for (var p = 0u; p < HW; p++) {
      let g = dy[base + p] * gfac[base + p];
      gfac[base + p] = g;
      if (EVENTS) { act[base + min(n, HW - 1u)] = p; }
      n += select(0u, 1u, is_event(g));
    }
  } else {
    let KP = max(POOL, 1u); // POOL > 0 here (the max keeps the pipeline constants free of a division by 0)
    let HO = H / KP;
    let WO = W / KP;
    if (DENSE) {
      // Every neuron: its window's gradient if it won the window, else 0.
      for (var p = 0u; p < HW; p++) {
        let py = p / W / KP;
        let px = p % W / KP;
        let inside = py < HO && px < WO;
        let o = (plane * HO + min(py, HO - 1u)) * WO + min(px, WO - 1u);
        let won = inside && idx[o] == base + p;
        let g = select(vec2<f32>(0.0), dy[o] * gfac[base + p], won);
        gfac[base + p] = g;
        if (EVENTS) { act[base + min(n, HW - 1u)] = p; }
        n += select(0u, 1u, is_event(g));
      }
    } else {
      // The winners only (at most one neuron in KP * KP), one pass over the windows of a pooled
      // row: winners in its first pixel row are events at once; the others wait at the end of
      // the plane's list space (past any event: there are at most HO * WO), then follow row by
      // row in window order, so the list stays in pixel order.
      let spare = base + HW - WO;
      for (var py = 0u; py < HO; py++) {
        var later = 0u;
        for (var px = 0u; px < WO; px++) {
          let o = (plane * HO + py) * WO + px;
          let i = idx[o];
          let won = i != NONE;
          let at = select(base, i, won);
          let f = gfac[at];
          let g = select(f, dy[o] * f, won);
          gfac[at] = g;
          let event = won && is_event(g);
          let first = (at - base) / W == py * KP;
          if (EVENTS) {
            act[select(spare + min(later, WO - 1u), base + n, first)] = at - base;
          }
          n += select(0u, 1u, event && first);
          later += select(0u, 1u, event && !first);
        }
        for (var r = 1u; r < KP; r++) {
          for (var e = 0u; e < later; e++) {
            let p = act[spare + e];
            if (EVENTS) { act[base + n] = p; }
            n += select(0u, 1u, p / W == py * KP + r);
          }
        }
      }
    }
  }
  count[plane] = n;
  if (n > 0u) { atomicAdd(&counter[LAYER], n); }
}
