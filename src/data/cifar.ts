/**
 * The CIFAR "binary version" files.
 *
 * CIFAR-10 (`data_batch_1.bin`..`data_batch_5.bin`, `test_batch.bin`):
 * records of 1 label byte + 3072 pixel bytes. CIFAR-100 (`train.bin`,
 * `test.bin`): records of a coarse label byte, a fine label byte, then 3072
 * pixel bytes. Pixels are 1024 red, 1024 green, 1024 blue values, each plane
 * row-major 32x32, which is already CHW order.
 *
 * @module
 */

/** Bytes of one image (3 x 32 x 32). */
export const CIFAR_IMAGE_BYTES = 3072;

/** Images and labels of one CIFAR binary file. */
export interface CifarBatch {
  count: number;
  images: Uint8Array;
  labels: Uint8Array;
}

/**
 * Parses one CIFAR binary file. For CIFAR-100 the fine label (100 classes)
 * is returned; the coarse label is range-checked (20 classes) and dropped.
 * The file size must be a positive multiple of the record size, and labels
 * must be in range; errors name `source`.
 *
 * @example
 * ```ts
 * import { readCifarBatch } from "./cifar.ts";
 * const rec = new Uint8Array(3073);
 * rec[0] = 7;
 * const b = readCifarBatch(rec, "one.bin", "cifar10");
 * if (b.count !== 1 || b.labels[0] !== 7) throw new Error();
 * ```
 */
export function readCifarBatch(
  bytes: Uint8Array,
  source: string,
  variant: "cifar10" | "cifar100",
): CifarBatch {
  const labelBytes = variant === "cifar10" ? 1 : 2;
  const record = labelBytes + CIFAR_IMAGE_BYTES;
  const fail = (msg: string): never => {
    throw new Error(`Cannot read dataset file '${source}': ${msg}`);
  };
  if (bytes.length === 0) {
    fail(`expected at least one ${record}-byte record, got 0 bytes (empty file)`);
  }
  if (bytes.length % record !== 0) {
    const whole = Math.floor(bytes.length / record);
    fail(
      `expected whole ${record}-byte ${
        variant === "cifar10" ? "CIFAR-10" : "CIFAR-100"
      } records, ` +
        `so ${(whole + 1) * record} bytes for ${whole + 1} records, got ${bytes.length} bytes ` +
        `(${bytes.length - whole * record} bytes of a partial record: truncated?)`,
    );
  }
  const count = bytes.length / record;
  const images = new Uint8Array(count * CIFAR_IMAGE_BYTES);
  const labels = new Uint8Array(count);
  const classes = variant === "cifar10" ? 10 : 100;
  for (let i = 0; i < count; i++) {
    const at = i * record;
    if (variant === "cifar100" && bytes[at] >= 20) {
      fail(`record ${i}: coarse label expected in [0, 20), got ${bytes[at]}`);
    }
    const label = bytes[at + labelBytes - 1];
    if (label >= classes) fail(`record ${i}: label expected in [0, ${classes}), got ${label}`);
    labels[i] = label;
    images.set(bytes.subarray(at + labelBytes, at + record), i * CIFAR_IMAGE_BYTES);
  }
  return { count, images, labels };
}
