/**
 * Generated, learnable images: class c lights a blob at a place of its own
 * (around a circle), with jitter and noise. For demos and tests that need
 * data a small network learns in a few hundred steps, without a download.
 *
 * @module
 */

import { Rng } from "../util/rng.ts";

/**
 * `count` one-channel images of `h x w` as bytes (0..255, row-major) and
 * their labels in [0, classes), from `seed`.
 *
 * @example
 * ```ts
 * import { blobs } from "./blobs.ts";
 * const { images, labels } = blobs(10, 8, 8, 4, 1);
 * if (images.length !== 640 || labels.length !== 10 || labels.some((y) => y >= 4)) throw new Error();
 * ```
 */
export function blobs(
  count: number,
  h: number,
  w: number,
  classes: number,
  seed: number,
): { images: Uint8Array; labels: Uint8Array } {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * h * w);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const c = rng.int(classes);
    labels[n] = c;
    const angle = (2 * Math.PI * c) / classes;
    const cy = h / 2 + (h / 4) * Math.sin(angle) + (rng.next() - 0.5);
    const cx = w / 2 + (w / 4) * Math.cos(angle) + (rng.next() - 0.5);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const d2 = ((y - cy) ** 2 + (x - cx) ** 2) / ((h * w) / 40);
        const v = 255 * Math.exp(-d2) + 40 * rng.next() - 20;
        images[n * h * w + y * w + x] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  return { images, labels };
}
