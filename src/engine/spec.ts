/**
 * Architecture strings: parsing `64C3-128C3-P2-...` into layer specs and
 * planning each layer's input and output shapes.
 *
 * Tokens (MODEL.md): `aCk` spiking convolution (a channels, kernel k, stride 1,
 * padding k//2), `nF` spiking fully connected, `Pk` max pooling (kernel and
 * stride k). The readout (one neuron per class) is appended by {@link planModel}.
 *
 * @module
 */

/** A spiking convolution `aCk`. */
export interface ConvSpec {
  /** Discriminant. */
  kind: "conv";
  /** The token as written, e.g. "64C3". */
  token: string;
  /** Output channels. */
  channels: number;
  /** Kernel size k (odd; stride 1, padding k//2). */
  kernel: number;
}
/** A spiking fully connected layer `nF`. */
export interface LinearSpec {
  /** Discriminant. */
  kind: "linear";
  /** The token as written, e.g. "100F". */
  token: string;
  /** Output features. */
  features: number;
}
/** Max pooling `Pk`. */
export interface PoolSpec {
  /** Discriminant. */
  kind: "pool";
  /** The token as written, e.g. "P2". */
  token: string;
  /** Pooling kernel size and stride k. */
  kernel: number;
}
/** The non-spiking readout, added automatically. */
export interface ReadoutSpec {
  /** Discriminant. */
  kind: "readout";
  /** Generated token `<classes>R`, e.g. "10R". */
  token: string;
  /** Output neurons, one per class. */
  classes: number;
}
/** One layer of an architecture. */
export type LayerSpec = ConvSpec | LinearSpec | PoolSpec | ReadoutSpec;

/** Named architectures (MODEL.md). */
export const NAMED_ARCHS: Readonly<Record<string, string>> = {
  vgg7: "64C3-128C3-P2-256C3-256C3-P2-512C3-512C3-P2",
  vgg11: "128C3-128C3-128C3-P2-256C3-256C3-256C3-P2-512C3-512C3-512C3-512C3-P2",
};

/**
 * Parses an architecture string or name into layer specs (without readout).
 * Accepts `-` and ` - ` separators and the names in {@link NAMED_ARCHS}.
 *
 * @example
 * ```ts
 * import { parseArch } from "./spec.ts";
 * const specs = parseArch("16C3 - P2 - 100F");
 * if (specs.length !== 3 || specs[2].kind !== "linear") throw new Error();
 * ```
 */
export function parseArch(arch: string): LayerSpec[] {
  const text = NAMED_ARCHS[arch.trim().toLowerCase()] ?? arch;
  const tokens = text.split("-").map((t) => t.trim());
  if (text.trim() === "") {
    throw new Error(`Cannot parse architecture: expected tokens like '64C3-P2-100F', got ''`);
  }
  return tokens.map((token, i) => {
    const where = `token ${i + 1} of architecture '${arch}'`;
    let m = /^(\d+)C(\d+)$/i.exec(token);
    if (m) {
      const channels = Number(m[1]), kernel = Number(m[2]);
      if (channels < 1 || kernel < 1 || kernel % 2 === 0) {
        throw new Error(
          `Cannot parse ${where}: expected aCk with a >= 1 and an odd kernel k (padding k//2 keeps ` +
            `the size), got '${token}'`,
        );
      }
      return { kind: "conv", token, channels, kernel } as ConvSpec;
    }
    m = /^(\d+)F$/i.exec(token);
    if (m) {
      const features = Number(m[1]);
      if (features < 1) {
        throw new Error(`Cannot parse ${where}: expected nF with n >= 1, got '${token}'`);
      }
      return { kind: "linear", token, features } as LinearSpec;
    }
    m = /^P(\d+)$/i.exec(token);
    if (m) {
      const kernel = Number(m[1]);
      if (kernel < 1) {
        throw new Error(`Cannot parse ${where}: expected Pk with k >= 1, got '${token}'`);
      }
      return { kind: "pool", token, kernel } as PoolSpec;
    }
    throw new Error(
      `Cannot parse ${where}: expected 'aCk' (convolution), 'nF' (fully connected) or 'Pk' ` +
        `(max pooling), or a name (${Object.keys(NAMED_ARCHS).join(", ")}), got '${token}'`,
    );
  });
}

/** A layer with its shapes: `[C, H, W]` for maps, `[F]` for vectors. */
export interface LayerPlan {
  /** Position of the layer in the model (0-based). */
  index: number;
  /** The layer's spec. */
  spec: LayerSpec;
  /** Shape of one sample's input to the layer. */
  inShape: number[];
  /** Shape of one sample's output of the layer. */
  outShape: number[];
  /** PyTorch-shaped weight: `[out, in, k, k]` or `[out, in]`; null for pooling. */
  weightShape: number[] | null;
  /** Inputs per output neuron (Kaiming fan-in); 0 for pooling. */
  fanIn: number;
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Plans every layer of `arch` for inputs of `inputShape` (`[C, H, W]` or
 * `[F]`) and appends the readout with `classes` neurons.
 *
 * @example
 * ```ts
 * import { planModel } from "./spec.ts";
 * const plan = planModel("vgg7", [3, 32, 32], 10);
 * if (plan.at(-1)!.weightShape!.join() !== "10,8192") throw new Error();
 * ```
 */
export function planModel(
  arch: string | LayerSpec[],
  inputShape: readonly number[],
  classes: number,
): LayerPlan[] {
  const specs = typeof arch === "string"
    ? parseArch(arch)
    : arch.filter((s) => s.kind !== "readout");
  if (!Number.isInteger(classes) || classes < 2) {
    throw new Error(`Cannot build readout: expected at least 2 classes, got ${classes}`);
  }
  if (inputShape.length !== 3 && inputShape.length !== 1 || inputShape.some((d) => !(d >= 1))) {
    throw new Error(
      `Cannot build model: expected input shape [C, H, W] or [F], got [${inputShape}]`,
    );
  }
  const all: LayerSpec[] = [...specs, { kind: "readout", token: `${classes}R`, classes }];
  let shape = [...inputShape];
  return all.map((spec, index) => {
    const inShape = shape;
    const where = `Cannot build layer ${index} '${spec.token}'`;
    let outShape: number[];
    let weightShape: number[] | null = null;
    let fanIn = 0;
    switch (spec.kind) {
      case "conv": {
        if (inShape.length !== 3) {
          throw new Error(
            `${where} as input has ${inShape.length} channel dimension: expected [C, H, W], got [${inShape}]`,
          );
        }
        outShape = [spec.channels, inShape[1], inShape[2]];
        weightShape = [spec.channels, inShape[0], spec.kernel, spec.kernel];
        fanIn = inShape[0] * spec.kernel * spec.kernel;
        break;
      }
      case "pool": {
        if (inShape.length !== 3) {
          throw new Error(`${where}: expected input [C, H, W], got [${inShape}]`);
        }
        const [c, h, w] = inShape;
        if (h < spec.kernel || w < spec.kernel) {
          throw new Error(
            `${where}: expected spatial size at least ${spec.kernel}x${spec.kernel}, got ${h}x${w}`,
          );
        }
        outShape = [c, Math.floor(h / spec.kernel), Math.floor(w / spec.kernel)];
        break;
      }
      case "linear":
      case "readout": {
        const n = sizeOf(inShape);
        const out = spec.kind === "linear" ? spec.features : spec.classes;
        outShape = [out];
        weightShape = [out, n];
        fanIn = n;
        break;
      }
    }
    shape = outShape;
    return { index, spec, inShape, outShape, weightShape, fanIn };
  });
}
