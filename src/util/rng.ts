/**
 * A seeded, portable random number generator.
 *
 * The core is xoshiro128** (Blackman and Vigna), seeded through a 32-bit
 * SplitMix-style mixer. Everything on the integer path uses 32-bit integer
 * arithmetic (`Math.imul`, shifts), so the same seed gives the same integers,
 * floats from {@link Rng.next}, shuffles and permutations on every machine.
 * {@link Rng.normal} additionally uses `Math.log`, `Math.sqrt`, `Math.cos` and
 * `Math.sin`; V8 (Deno) computes these with the same portable routines on every
 * platform, so normals are reproducible across machines running Deno.
 *
 * @module
 */

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** Finaliser of MurmurHash3: a bijective 32-bit avalanche mix. */
function fmix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-8 bytes of a string. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h = Math.imul(h ^ b, 0x01000193);
  }
  return h >>> 0;
}

/** Splits a safe integer (possibly negative) into low and high 32-bit words (two's complement). */
function splitInteger(x: number, what: string): [number, number] {
  if (!Number.isSafeInteger(x)) {
    throw new Error(`Cannot seed Rng: ${what} expected a safe integer, got ${x}`);
  }
  const lo = x >>> 0; // ToUint32 is modular, also for negatives
  const hi = Math.floor(x / TWO_POW_32) >>> 0;
  return [lo, hi];
}

/** Expands key words into four state words, never all zero. */
function expand(words: number[]): [number, number, number, number] {
  let x = 0x6a09e667;
  for (const w of words) x = fmix32((x ^ w) + 0x9e3779b9);
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    out.push(fmix32(x));
  }
  if ((out[0] | out[1] | out[2] | out[3]) === 0) out[0] = 1;
  return out as [number, number, number, number];
}

/**
 * Seeded generator (xoshiro128**) with uniform, integer, normal, shuffle and
 * fork operations, and a serialisable state.
 *
 * @example
 * ```ts
 * import { Rng } from "./rng.ts";
 * const a = new Rng(42), b = new Rng(42);
 * if (a.nextU32() !== b.nextU32()) throw new Error("not deterministic");
 * const saved = a.state();
 * const x = a.normal();
 * if (Rng.fromState(saved).normal() !== x) throw new Error("state did not round-trip");
 * ```
 */
export class Rng {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;
  #hasSpare = false;
  #spare = 0;

  /**
   * Creates a generator from a seed: any safe integer (negative allowed).
   * Different seeds give unrelated streams.
   */
  constructor(seed: number) {
    const [lo, hi] = splitInteger(seed, "seed");
    [this.#s0, this.#s1, this.#s2, this.#s3] = expand([lo, hi]);
  }

  /** Next uniform 32-bit unsigned integer in [0, 2^32). */
  nextU32(): number {
    const s1 = this.#s1;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return r;
  }

  /** Next uniform float in [0, 1) with 53 random bits (two 32-bit draws). */
  next(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / TWO_POW_53;
  }

  /**
   * Standard normal sample (Box-Muller). Each pair of uniforms gives two
   * normals; the second is cached and is part of {@link Rng.state}.
   */
  normal(): number {
    if (this.#hasSpare) {
      this.#hasSpare = false;
      return this.#spare;
    }
    const u1 = 1 - this.next(); // (0, 1], so log is finite
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.#spare = r * Math.sin(theta);
    this.#hasSpare = true;
    return r * Math.cos(theta);
  }

  /**
   * Uniform integer in [0, n), without modulo bias (rejection sampling).
   * `n` must be an integer in [1, 2^53].
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_53) {
      throw new Error(`Rng.int: expected an integer n in [1, 2^53], got ${n}`);
    }
    if (n <= TWO_POW_32) {
      const limit = TWO_POW_32 - (TWO_POW_32 % n); // largest multiple of n <= 2^32
      for (;;) {
        const x = this.nextU32();
        if (x < limit) return x % n;
      }
    }
    const limit = TWO_POW_53 - (TWO_POW_53 % n);
    for (;;) {
      const x = (this.nextU32() >>> 11) * TWO_POW_32 + this.nextU32(); // 53 bits
      if (x < limit) return x % n;
    }
  }

  /** Shuffles an array in place (Fisher-Yates, from the last element down). */
  shuffle<T>(a: T[] | Uint32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }

  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    if (!Number.isInteger(n) || n < 0 || n >= TWO_POW_32) {
      throw new Error(`Rng.permutation: expected an integer n in [0, 2^32), got ${n}`);
    }
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }

  /**
   * The full state as plain numbers, JSON-safe:
   * `[s0, s1, s2, s3, hasSpareNormal (0|1), spareNormal]`.
   */
  state(): number[] {
    return [
      this.#s0 >>> 0,
      this.#s1 >>> 0,
      this.#s2 >>> 0,
      this.#s3 >>> 0,
      this.#hasSpare ? 1 : 0,
      this.#hasSpare ? this.#spare : 0,
    ];
  }

  /** Restores a generator from {@link Rng.state}; it continues exactly where the saved one was. */
  static fromState(s: number[]): Rng {
    if (!Array.isArray(s) || s.length !== 6) {
      throw new Error(
        `Cannot restore Rng: expected state of 6 numbers, got ${JSON.stringify(s)}`,
      );
    }
    for (let i = 0; i < 4; i++) {
      if (!Number.isInteger(s[i]) || s[i] < 0 || s[i] >= TWO_POW_32) {
        throw new Error(
          `Cannot restore Rng: state word ${i} expected an integer in [0, 2^32), got ${s[i]}`,
        );
      }
    }
    if ((s[0] | s[1] | s[2] | s[3]) === 0) {
      throw new Error("Cannot restore Rng: state words expected not all zero, got [0, 0, 0, 0]");
    }
    if (s[4] !== 0 && s[4] !== 1) {
      throw new Error(
        `Cannot restore Rng: state[4] (has spare normal) expected 0 or 1, got ${s[4]}`,
      );
    }
    if (typeof s[5] !== "number" || !Number.isFinite(s[5])) {
      throw new Error(
        `Cannot restore Rng: state[5] (spare normal) expected a finite number, got ${s[5]}`,
      );
    }
    const r = new Rng(0);
    r.#s0 = s[0] | 0;
    r.#s1 = s[1] | 0;
    r.#s2 = s[2] | 0;
    r.#s3 = s[3] | 0;
    r.#hasSpare = s[4] === 1;
    r.#spare = r.#hasSpare ? s[5] : 0;
    return r;
  }

  /**
   * An independent generator derived from this one's current state and a
   * stream id (integer or string). Does not advance this generator: forking
   * the same stream twice at the same point gives identical generators, and
   * different streams give unrelated ones.
   *
   * @example
   * ```ts
   * import { Rng } from "./rng.ts";
   * const root = new Rng(1);
   * const init = root.fork("init"), data = root.fork("data");
   * if (init.nextU32() === data.nextU32()) throw new Error("streams collide");
   * ```
   */
  fork(stream: number | string): Rng {
    let key: number[];
    if (typeof stream === "string") {
      key = [0x53545200, hashString(stream), stream.length >>> 0];
    } else {
      const [lo, hi] = splitInteger(stream, "fork stream");
      key = [0x4e554d00, lo, hi];
    }
    const r = new Rng(0);
    [r.#s0, r.#s1, r.#s2, r.#s3] = expand([
      this.#s0 >>> 0,
      this.#s1 >>> 0,
      this.#s2 >>> 0,
      this.#s3 >>> 0,
      ...key,
    ]);
    return r;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * He/Kaiming normal initialisation: `prod(shape)` samples with mean 0 and
 * standard deviation `sqrt(2 / fanIn)`, drawn in order from `rng.normal()`.
 *
 * @example
 * ```ts
 * import { kaimingNormal, Rng } from "./rng.ts";
 * const w = kaimingNormal([16, 1, 3, 3], 9, new Rng(0));
 * if (w.length !== 144) throw new Error("wrong size");
 * ```
 */
export function kaimingNormal(shape: number[], fanIn: number, rng: Rng): Float32Array {
  let size = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(
        `kaimingNormal: expected shape of non-negative integers, got [${shape.join(", ")}]`,
      );
    }
    size *= d;
  }
  if (!(fanIn > 0) || !Number.isFinite(fanIn)) {
    throw new Error(`kaimingNormal: expected fanIn > 0, got ${fanIn}`);
  }
  const std = Math.sqrt(2 / fanIn);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.normal() * std;
  return out;
}
