// augment.wgsl: GPU data augmentation for firstspike's training loop (CIFAR-style images).
//
// What it computes
//   For each sample b < params.batch (one workgroup of 256 threads per sample):
//     image  = indices[params.offset + b]
//     pixels = bytes image*N .. image*N + N - 1 of `images` (N = C*H*W, NCHW, u8)
//   then, each step enabled by a bit of params.flags, in torchvision's order:
//     1 crop        pad 4 on every side with 128, crop H x W at (top, left), each uniform in 0..8
//     2 flip        horizontal flip with probability 1/2
//     4 autoaugment torchvision's AutoAugmentPolicy.CIFAR10: one of 25 sub-policies uniformly;
//                   each of its two ops applied with its probability, signed ops negated with
//                   probability 1/2; all ops map u8 images to u8 images (integer arithmetic)
//     8 cutout      after ToTensor: one 16 x 16 square set to 0, centre (cy, cx) uniform over the
//                   image, rows max(cy-8,0)..min(cy+8,H)-1, cols likewise (clipped at the border)
//   and writes out[b*N + i] = pixel_i / 255 as f32 (correctly rounded, computed exactly from the
//   bits so that every GPU gives the same value), or 0 inside the cutout hole.
//
// Layout
//   binding 0  images : array<u32>  all images' u8 pixels packed 4 per u32, little-endian
//   binding 1  indices: array<u32>  the epoch's sample order
//   binding 2  out    : array<f32>  [batch, C, H, W]
//   binding 3  params : uniform { batch, offset, seed, epoch, flags, force_op, force_bin,
//              force_neg }; force_op >= 0 (tests only) replaces the random sub-policy by the
//              single op force_op with magnitude bin force_bin, negated if force_neg != 0
//              (parameters, not override constants)
//   binding 4  dims   : uniform vec4<u32> (C, H, W, 0), the image shape
//   overrides  CAP_WORDS, CAP_C: the capacity of the workgroup arrays (words of one image,
//              channels); one pipeline serves every shape up to them (see below)
//   dispatch   (min(batch, 65535), ceil(batch / 65535)) workgroups.
//   workgroup memory: the image twice (source and destination of each op, u8 packed 4 per u32),
//   a 256-bin histogram, a 256-entry scan buffer, a C x 256 lookup table, 3 reduction words.
//
// Randomness
//   Counter-based: key = pcg(pcg(pcg(seed) + epoch) + position), position = offset + b (the
//   sample's position in the epoch), draw d = pcg(key + d * 0x9E3779B9). Results do not depend on
//   batch composition or dispatch shape. Draw numbers: 0 crop top, 1 crop left, 2 flip,
//   3 sub-policy, 4/5 apply op 1/2 (d % 10 < 10 p), 6/7 sign of op 1/2 (top bit 0 = negative),
//   8/9 cutout centre row/column. Uniform integers in [0, n) are d % n.
//
// Ops (op ids follow torchvision's augmentation space; magnitude bin k in 0..9, s = +-1):
//   0 ShearX     src = (x + m y, y), m = s k/30, coordinates at pixel centres, origin top-left
//   1 ShearY     src = (x, y + m x)
//   2 TranslateX src = (x - t, y), t = s floor(150 W k / 2979)   (int(150/331 * W * k/9))
//   3 TranslateY src = (x, y - t), t = s floor(150 H k / 2979)
//   4 Rotate     by s 30k/9 degrees counter-clockwise about the image centre
//                geometric ops: nearest neighbour (the pixel containing the mapped centre), in
//                2^16 fixed point on doubled coordinates; outside the image -> 128
//   5 Brightness blend(p, 0)         with factor F/10, F = 10 + s k (1..19)
//   6 Color      blend(p, L(pixel))  L = (19595 R + 38470 G + 7471 B + 32768) >> 16 (C = 3 only)
//   7 Contrast   blend(p, mean)      mean = round-half-up mean of L (C = 3) or of all values
//   8 Sharpness  blend(p, smooth)    smooth = round(3x3 [1 1 1; 1 5 1; 1 1 1] / 13), border kept
//                blend(p, d) = clamp(floor((F p + (10 - F) d) / 10), 0, 255)
//   9 Posterize  keep the top [8 8 7 7 6 6 5 5 4 4][k] bits
//  10 Solarize   p -> 255 - p where 9 p >= 255 (9 - k)  (threshold 255 (9-k)/9)
//  11 AutoContrast per channel: (255 (p - lo)) / (hi - lo) floored, unchanged when hi == lo
//  12 Equalize   per channel (PIL/torchvision): step = (N_c - h[last]) / 255,
//                lut[v] = min(255, (step / 2 + cum_before[v]) / step), identity when step == 0
//  13 Invert     255 - p

struct Params {
  batch: u32,
  offset: u32,
  seed: u32,
  epoch: u32,
  flags: u32,
  force_op: i32,
  force_bin: u32,
  force_neg: u32,
}

@group(0) @binding(0) var<storage, read> images: array<u32>;
@group(0) @binding(1) var<storage, read> indices: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// The image shape [C, H, W] is a uniform (`dims`), not override constants: one pipeline serves
// every shape up to its capacity (CAP_WORDS words of pixels per image, CAP_C channels), so a
// CPU driver compiles this kernel once per capacity, not once per shape. Being uniform, loops
// and branches on it keep the barriers in uniform control flow.
@group(0) @binding(4) var<uniform> dims: vec4<u32>; // C, H, W, unused

override CAP_WORDS: u32 = 1024u;
override CAP_C: u32 = 3u;

fn C() -> u32 { return dims.x; }
fn H() -> u32 { return dims.y; }
fn W() -> u32 { return dims.z; }
fn HW() -> u32 { return dims.y * dims.z; }
fn N() -> u32 { return dims.x * dims.y * dims.z; }
fn NW() -> u32 { return (dims.x * dims.y * dims.z + 3u) / 4u; }

const WG: u32 = 256u;
const PAD: i32 = 4;
const FILL: u32 = 128u;
const HOLE_HALF: i32 = 8;
const ONE: i32 = 65536; // fixed point 1.0

const FLAG_CROP: u32 = 1u;
const FLAG_FLIP: u32 = 2u;
const FLAG_AUTOAUGMENT: u32 = 4u;
const FLAG_CUTOUT: u32 = 8u;

// cos and sin of 30 k / 9 degrees, times 65536, rounded.
const ROT_COS = array<i32, 10>(65536, 65425, 65093, 64540, 63769, 62783, 61584, 60176, 58565, 56756);
const ROT_SIN = array<i32, 10>(0, 3811, 7608, 11380, 15114, 18796, 22415, 25957, 29413, 32768);
const POSTERIZE_BITS = array<u32, 10>(8u, 8u, 7u, 7u, 6u, 6u, 5u, 5u, 4u, 4u);

// AutoAugmentPolicy.CIFAR10: sub-policy j has ops 2j and 2j+1 (op id, probability in tenths,
// magnitude bin; bin 0 for ops without magnitude).
const POL_OP = array<u32, 50>(
  13u, 7u,  4u, 2u,  8u, 8u,  1u, 3u,  11u, 12u,
  1u, 9u,  6u, 5u,  8u, 5u,  12u, 12u,  7u, 8u,
  6u, 2u,  12u, 11u,  3u, 8u,  5u, 6u,  10u, 13u,
  12u, 11u,  12u, 12u,  6u, 12u,  11u, 10u,  5u, 6u,
  10u, 11u,  3u, 3u,  11u, 10u,  12u, 13u,  3u, 11u);
const POL_P = array<u32, 50>(
  1u, 2u,  7u, 3u,  8u, 9u,  5u, 7u,  5u, 9u,
  2u, 3u,  4u, 6u,  3u, 7u,  6u, 5u,  6u, 6u,
  7u, 5u,  3u, 4u,  4u, 2u,  9u, 2u,  5u, 0u,
  2u, 6u,  2u, 6u,  9u, 6u,  8u, 2u,  1u, 7u,
  4u, 9u,  9u, 7u,  9u, 8u,  8u, 1u,  7u, 9u);
const POL_BIN = array<u32, 50>(
  0u, 6u,  2u, 9u,  1u, 3u,  8u, 9u,  0u, 0u,
  7u, 7u,  3u, 7u,  9u, 9u,  0u, 0u,  7u, 5u,
  7u, 8u,  0u, 0u,  3u, 6u,  6u, 8u,  2u, 0u,
  0u, 0u,  0u, 0u,  9u, 0u,  0u, 8u,  3u, 0u,
  5u, 0u,  9u, 9u,  0u, 3u,  0u, 0u,  9u, 0u);

var<workgroup> img: array<u32, 2u * CAP_WORDS>;
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> scan: array<u32, 256>;
var<workgroup> lut: array<u32, 256u * CAP_C>;
var<workgroup> red: array<atomic<u32>, 3>; // 0: min bin / sum, 1: max bin

var<private> src: u32; // word offset of the current image in `img` (0 or NW)
var<private> dst: u32;
var<private> kind: u32; // 0 lookup table, 1 affine, 2 color, 3 sharpness
var<private> factor: i32; // blend factor in tenths
var<private> aff: array<i32, 6>; // xs2 = a X + b Y + e, ys2 = c X + d Y + f (doubled, fixed point)

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn draw(key: u32, d: u32) -> u32 {
  return pcg(key + d * 0x9E3779B9u);
}

fn pix(base: u32, i: u32) -> u32 {
  return (img[base + (i >> 2u)] >> ((i & 3u) * 8u)) & 255u;
}

// image_byte and to_unit: `_bytes.wgsl`, concatenated after this file.

fn blend(p: u32, deg: u32, f: i32) -> u32 {
  let v = f * i32(p) + (10 - f) * i32(deg);
  if (v <= 0) {
    return 0u;
  }
  return min(u32(v) / 10u, 255u);
}

fn luma(base: u32, r: u32) -> u32 {
  let R = pix(base, r);
  let G = pix(base, HW() + r);
  let B = pix(base, 2u * HW() + r);
  return (19595u * R + 38470u * G + 7471u * B + 32768u) >> 16u;
}

fn set_affine(a: i32, b: i32, e: i32, c: i32, d: i32, f: i32) {
  aff[0] = a;
  aff[1] = b;
  aff[2] = e;
  aff[3] = c;
  aff[4] = d;
  aff[5] = f;
}

// The value of pixel i of the destination image for the current op.
fn map_pixel(i: u32) -> u32 {
  let c = i / HW();
  let r = i % HW();
  let y = r / W();
  let x = r % W();
  switch kind {
    case 0u: {
      return lut[c * 256u + pix(src, i)];
    }
    case 1u: {
      let X = 2 * i32(x) + 1;
      let Y = 2 * i32(y) + 1;
      let xs = (aff[0] * X + aff[1] * Y + aff[2]) >> 17u;
      let ys = (aff[3] * X + aff[4] * Y + aff[5]) >> 17u;
      if (xs < 0 || ys < 0 || xs >= i32(W()) || ys >= i32(H())) {
        return FILL;
      }
      return pix(src, c * HW() + u32(ys) * W() + u32(xs));
    }
    case 2u: {
      let p = pix(src, i);
      if (C() != 3u) {
        return p;
      }
      return blend(p, luma(src, r), factor);
    }
    default: {
      let p = pix(src, i);
      if (y == 0u || x == 0u || y + 1u >= H() || x + 1u >= W()) {
        return p;
      }
      var s = 4u * p;
      for (var dy = 0u; dy < 3u; dy++) {
        for (var dx = 0u; dx < 3u; dx++) {
          s += pix(src, i + dy * W() + dx - W() - 1u);
        }
      }
      return blend(p, (s + 6u) / 13u, factor);
    }
  }
}

// Per-channel histogram statistics into lut: AutoContrast (equalize = false) or Equalize.
fn channel_luts(t: u32, equalize: bool) {
  for (var c = 0u; c < C(); c++) {
    atomicStore(&hist[t], 0u);
    if (t == 0u) {
      atomicStore(&red[0], 255u);
      atomicStore(&red[1], 0u);
    }
    workgroupBarrier();
    for (var i = t; i < HW(); i += WG) {
      atomicAdd(&hist[pix(src, c * HW() + i)], 1u);
    }
    workgroupBarrier();
    let h = atomicLoad(&hist[t]);
    if (h > 0u) {
      atomicMin(&red[0], t);
      atomicMax(&red[1], t);
    }
    scan[t] = h;
    workgroupBarrier();
    for (var off = 1u; off < 256u; off <<= 1u) {
      var v = scan[t];
      if (t >= off) {
        v += scan[t - off];
      }
      workgroupBarrier();
      scan[t] = v;
      workgroupBarrier();
    }
    let lo = atomicLoad(&red[0]);
    let hi = atomicLoad(&red[1]);
    var v = t;
    if (equalize) {
      let step = (scan[255] - atomicLoad(&hist[hi])) / 255u;
      if (step > 0u) {
        v = min(255u, (step / 2u + scan[t] - h) / step);
      }
    } else if (hi > lo) {
      v = (255u * (max(t, lo) - lo)) / (hi - lo);
      v = min(v, 255u);
    }
    lut[c * 256u + t] = v;
    workgroupBarrier();
  }
}

// Applies op `op` with magnitude bin `bin` (negated when `neg`) from img[src] to img[dst], swaps.
fn apply_op(t: u32, op: u32, bin: u32, neg: bool) {
  let s = select(1, -1, neg);
  let k = i32(bin);
  kind = 0u;
  factor = 10 + s * k;
  switch op {
    case 0u, 1u: {
      let m = s * ((ONE * k * 2 + 30) / 60); // round(65536 k / 30)
      if (op == 0u) {
        set_affine(ONE, m, 0, 0, ONE, 0);
      } else {
        set_affine(ONE, 0, 0, m, ONE, 0);
      }
      kind = 1u;
    }
    case 2u: {
      let tx = s * i32((150u * W() * bin) / 2979u);
      set_affine(ONE, 0, -2 * tx * ONE, 0, ONE, 0);
      kind = 1u;
    }
    case 3u: {
      let ty = s * i32((150u * H() * bin) / 2979u);
      set_affine(ONE, 0, 0, 0, ONE, -2 * ty * ONE);
      kind = 1u;
    }
    case 4u: {
      let cs = ROT_COS[bin];
      let sn = s * ROT_SIN[bin];
      let w = i32(W());
      let h = i32(H());
      // src = R (p - centre) + centre, R = [cos, -sin; sin, cos], doubled centre = (W, H)
      set_affine(cs, -sn, w * ONE - cs * w + sn * h, sn, cs, h * ONE - sn * w - cs * h);
      kind = 1u;
    }
    case 5u: {
      for (var c = 0u; c < C(); c++) {
        lut[c * 256u + t] = blend(t, 0u, factor);
      }
    }
    case 6u: {
      kind = 2u;
    }
    case 7u: {
      if (t == 0u) {
        atomicStore(&red[0], 0u);
      }
      workgroupBarrier();
      var count = N();
      if (C() == 3u) {
        count = HW();
        for (var r = t; r < HW(); r += WG) {
          atomicAdd(&red[0], luma(src, r));
        }
      } else {
        for (var i = t; i < N(); i += WG) {
          atomicAdd(&red[0], pix(src, i));
        }
      }
      workgroupBarrier();
      let mean = (2u * atomicLoad(&red[0]) + count) / (2u * count);
      for (var c = 0u; c < C(); c++) {
        lut[c * 256u + t] = blend(t, mean, factor);
      }
    }
    case 8u: {
      kind = 3u;
    }
    case 9u: {
      let mask = (0xFFu << (8u - POSTERIZE_BITS[bin])) & 0xFFu;
      for (var c = 0u; c < C(); c++) {
        lut[c * 256u + t] = t & mask;
      }
    }
    case 10u: {
      for (var c = 0u; c < C(); c++) {
        lut[c * 256u + t] = select(t, 255u - t, 9u * t >= 255u * (9u - bin));
      }
    }
    case 11u: {
      channel_luts(t, false);
    }
    case 12u: {
      channel_luts(t, true);
    }
    default: {
      for (var c = 0u; c < C(); c++) {
        lut[c * 256u + t] = 255u - t;
      }
    }
  }
  workgroupBarrier();
  for (var w = t; w < NW(); w += WG) {
    var word = 0u;
    for (var j = 0u; j < 4u; j++) {
      let i = 4u * w + j;
      if (i < N()) {
        word |= map_pixel(i) << (8u * j);
      }
    }
    img[dst + w] = word;
  }
  workgroupBarrier();
  let tmp = src;
  src = dst;
  dst = tmp;
}

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
  let flags = params.flags;
  let position = params.offset + b;
  // A `let` (not a private variable) so that the op choice is provably uniform for barriers.
  let key = pcg(pcg(pcg(params.seed) + params.epoch) + position);
  src = 0u;
  dst = NW();

  // Gather with crop and flip: out(y, x) = padded(y + top, x' + left), x' = flipped x.
  var top = PAD;
  var left = PAD;
  if ((flags & FLAG_CROP) != 0u) {
    top = i32(draw(key, 0u) % 9u);
    left = i32(draw(key, 1u) % 9u);
  }
  let flip = (flags & FLAG_FLIP) != 0u && (draw(key, 2u) >> 31u) == 1u;
  let base = indices[position] * N();
  for (var w = t; w < NW(); w += WG) {
    var word = 0u;
    for (var j = 0u; j < 4u; j++) {
      let i = 4u * w + j;
      if (i < N()) {
        let c = i / HW();
        let r = i % HW();
        let y = i32(r / W());
        var x = i32(r % W());
        if (flip) {
          x = i32(W()) - 1 - x;
        }
        let sy = y + top - PAD;
        let sx = x + left - PAD;
        var v = FILL;
        if (sy >= 0 && sx >= 0 && sy < i32(H()) && sx < i32(W())) {
          v = image_byte(base + c * HW() + u32(sy) * W() + u32(sx));
        }
        word |= v << (8u * j);
      }
    }
    img[w] = word;
  }
  workgroupBarrier();

  if ((flags & FLAG_AUTOAUGMENT) != 0u) {
    if (params.force_op >= 0) {
      apply_op(t, u32(params.force_op), params.force_bin, params.force_neg != 0u);
    } else {
      let sub = draw(key, 3u) % 25u;
      for (var j = 0u; j < 2u; j++) {
        let e = 2u * sub + j;
        if (draw(key, 4u + j) % 10u < POL_P[e]) {
          apply_op(t, POL_OP[e], POL_BIN[e], (draw(key, 6u + j) >> 31u) == 0u);
        }
      }
    }
  }

  // ToTensor and Cutout.
  var y1 = 0;
  var y2 = 0;
  var x1 = 0;
  var x2 = 0;
  if ((flags & FLAG_CUTOUT) != 0u) {
    let cy = i32(draw(key, 8u) % H());
    let cx = i32(draw(key, 9u) % W());
    y1 = max(cy - HOLE_HALF, 0);
    y2 = min(cy + HOLE_HALF, i32(H()));
    x1 = max(cx - HOLE_HALF, 0);
    x2 = min(cx + HOLE_HALF, i32(W()));
  }
  let out_base = b * N();
  for (var i = t; i < N(); i += WG) {
    let r = i % HW();
    let y = i32(r / W());
    let x = i32(r % W());
    var v = to_unit(pix(src, i));
    if (y >= y1 && y < y2 && x >= x1 && x < x2) {
      v = 0.0;
    }
    out[out_base + i] = v;
  }
}
