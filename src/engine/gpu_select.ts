/**
 * Choosing one GPU of several for Deno's WebGPU.
 *
 * Deno's `navigator.gpu.requestAdapter()` (wgpu) takes only a power
 * preference and `forceFallbackAdapter`, plus `DENO_WEBGPU_BACKEND` (which
 * backends to use); it offers no adapter list, name or index, and it creates
 * its wgpu instance (and with it the Vulkan instance) at the first request of
 * the process, picking the first adapter of the preferred type. So the GPU is
 * chosen below WebGPU, in the Vulkan layer stack, through environment
 * variables set before that first request:
 *
 * - Mesa's device-select layer (`VK_LAYER_MESA_device_select`, an implicit
 *   layer installed with Mesa's Vulkan drivers, Debian `mesa-vulkan-drivers`;
 *   it wraps every driver, NVIDIA's too) puts one device first and, with
 *   `MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE=1`, hides the others.
 *   `MESA_VK_DEVICE_SELECT=vid:did` picks by PCI vendor and device id;
 *   `DRI_PRIME=pci-DDDD_BB_DD_F` picks by PCI address (needs the driver's
 *   `VK_EXT_pci_bus_info`, which NVIDIA, AMD and Intel drivers have).
 * - `DENO_WEBGPU_BACKEND=vulkan` keeps wgpu from falling back to an OpenGL
 *   adapter that the layer does not filter.
 *
 * A selection is an index (the N-th display controller in PCI address order:
 * the order of `nvidia-smi`, of CUDA with `CUDA_DEVICE_ORDER=PCI_BUS_ID` and
 * of Slurm's GPU indices), a PCI address (`0000:41:00.0`, as `nvidia-smi`
 * prints it, or `pci-0000_41_00_0`) or a `vendor:device` id in hex
 * (`10de:2335`). After the adapter is acquired, its vendor and device ids are
 * checked against the selection, so a selection the layer did not honour (no
 * layer installed, a typo) is an error, not a run on the wrong GPU.
 *
 * The Vulkan loader's own `VK_ICD_FILENAMES`/`VK_DRIVER_FILES` (which driver
 * manifests to load) and `VK_LOADER_DRIVERS_SELECT` choose drivers, not
 * devices; `CUDA_VISIBLE_DEVICES` is read by CUDA only, never by Vulkan.
 *
 * @example
 * ```ts
 * import { gpuEnvironment, parseGpu } from "./gpu_select.ts";
 * if (parseGpu("00000000:41:00.0").kind !== "pci") throw new Error();
 * const sel = await gpuEnvironment("10de:2335", { env: {} });
 * if (sel.env.MESA_VK_DEVICE_SELECT !== "10de:2335") throw new Error();
 * if (sel.expect?.vendor !== 0x10de || sel.expect.device !== 0x2335) throw new Error();
 * ```
 *
 * @module
 */

import { join } from "node:path";
import { envAllowed, envRecord } from "../util/env.ts";

/** The variables GPU selection reads: the backend and Slurm's GPU list. */
export const GPU_ENV = [
  "DENO_WEBGPU_BACKEND",
  "SLURM_JOB_ID",
  "SLURM_STEP_GPUS",
  "SLURM_JOB_GPUS",
] as const;

/** What `gpu` may be: an index, a PCI address or a `vendor:device` id. */
export type GpuSelection = number | string;

/** A parsed selection. */
export type ParsedGpu =
  | { kind: "index"; index: number }
  | { kind: "pci"; domain: number; bus: number; device: number; fn: number }
  | { kind: "id"; vendor: number; device: number };

/** What to expect of the adapter and the environment that asks for it. */
export interface GpuEnvironment {
  /** Environment variables to set before the process's first adapter request ("" removes one). */
  env: Record<string, string>;
  /** How the selection reads to a person, e.g. `gpu 1 (PCI 0000:41:00.0, 10de:2335)`. */
  description: string;
  /** PCI vendor and device id the adapter must report; null where unknown. */
  expect: { vendor: number; device: number } | null;
}

const EXPECTED = "an index (0, 1, ...), a PCI address such as '0000:41:00.0' or " +
  "'pci-0000_41_00_0', or a vendor:device id such as '10de:2335', or null";

/**
 * Parses a GPU selection; throws an error that says what was expected and
 * what came.
 */
export function parseGpu(value: unknown): ParsedGpu {
  const fail = (): never => {
    throw new Error(`expected ${EXPECTED}, got ${JSON.stringify(value)}`);
  };
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) fail();
    return { kind: "index", index: value };
  }
  if (typeof value !== "string") return fail();
  const s = value.trim().toLowerCase();
  if (/^\d+$/.test(s)) return { kind: "index", index: Number(s) };
  const pci = /^(?:pci-)?(?:([0-9a-f]{1,8})[:_])?([0-9a-f]{1,2})[:_]([0-9a-f]{1,2})[._]([0-7])$/
    .exec(s);
  if (pci) {
    return {
      kind: "pci",
      domain: parseInt(pci[1] ?? "0", 16),
      bus: parseInt(pci[2], 16),
      device: parseInt(pci[3], 16),
      fn: Number(pci[4]),
    };
  }
  const id = /^([0-9a-f]{1,8}):([0-9a-f]{1,8})$/.exec(s);
  if (id) return { kind: "id", vendor: parseInt(id[1], 16), device: parseInt(id[2], 16) };
  return fail();
}

/** The problem with a selection, or null when it is valid (for schemas). */
export function gpuProblem(value: unknown): string | null {
  try {
    parseGpu(value);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");

/** `0000:41:00.0` */
function pciAddress(p: { domain: number; bus: number; device: number; fn: number }): string {
  return `${hex(p.domain, 4)}:${hex(p.bus, 2)}:${hex(p.device, 2)}.${p.fn}`;
}

/** One display controller on the PCI bus. */
export interface PciGpu {
  /** `0000:41:00.0`. */
  address: string;
  vendor: number;
  device: number;
}

/**
 * The display controllers (PCI class 0x03: VGA, 3D and other display
 * controllers, which is what datacentre GPUs are) in PCI address order, read
 * from `sysfs` (default `/sys/bus/pci/devices`). Empty where the folder
 * cannot be read.
 */
export async function pciGpus(sysfs = "/sys/bus/pci/devices"): Promise<PciGpu[]> {
  const out: PciGpu[] = [];
  let names: string[];
  try {
    names = [];
    for await (const e of Deno.readDir(sysfs)) names.push(e.name);
  } catch {
    return [];
  }
  for (const name of names.sort()) {
    try {
      const read = (f: string) => Deno.readTextFile(join(sysfs, name, f)).then((t) => t.trim());
      const cls = parseInt(await read("class"), 16);
      if (cls >> 16 !== 0x03) continue;
      out.push({
        address: name.toLowerCase(),
        vendor: parseInt(await read("vendor"), 16),
        device: parseInt(await read("device"), 16),
      });
    } catch {
      continue;
    }
  }
  return out;
}

/**
 * The environment that makes Vulkan show only the selected GPU, and what
 * the adapter must then report. An index is resolved through {@link pciGpus}
 * (an index beyond the list is an error naming the GPUs found).
 * `DENO_WEBGPU_BACKEND` is set to `vulkan` unless `env` already has it.
 */
export async function gpuEnvironment(
  selection: GpuSelection,
  opts: { sysfs?: string; env?: Record<string, string | undefined> } = {},
): Promise<GpuEnvironment> {
  const env = opts.env ?? envRecord(GPU_ENV);
  const p = parseGpu(selection);
  const base: Record<string, string> = {
    MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: "1",
    ...(env.DENO_WEBGPU_BACKEND ? {} : { DENO_WEBGPU_BACKEND: "vulkan" }),
  };
  if (p.kind === "id") {
    const id = `${p.vendor.toString(16)}:${p.device.toString(16)}`;
    return {
      env: { ...base, MESA_VK_DEVICE_SELECT: id },
      description: `gpu ${id}`,
      expect: { vendor: p.vendor, device: p.device },
    };
  }
  const gpus = await pciGpus(opts.sysfs);
  let address: string;
  let known: PciGpu | undefined;
  if (p.kind === "index") {
    known = gpus[p.index];
    if (!known) {
      throw new Error(
        `gpu: expected an index below the number of GPUs on the PCI bus (${gpus.length}: ${
          gpus.map((g, i) => `${i} ${g.address} ${hex(g.vendor, 4)}:${hex(g.device, 4)}`)
            .join(", ") || "none found in sysfs"
        }), got ${p.index}`,
      );
    }
    address = known.address;
  } else {
    address = pciAddress(p);
    known = gpus.find((g) => g.address === address);
    if (!known && gpus.length > 0) {
      throw new Error(
        `gpu: expected the PCI address of a GPU (${
          gpus.map((g) => g.address).join(", ")
        }), got '${selection}' (${address})`,
      );
    }
  }
  const [dom, bus, rest] = address.split(":");
  const [dev, fn] = rest.split(".");
  const tag = `pci-${dom}_${bus}_${dev}_${fn}`;
  return {
    // DRI_PRIME's tag is read only when MESA_VK_DEVICE_SELECT is unset ("" removes it).
    env: { ...base, DRI_PRIME: tag, MESA_VK_DEVICE_SELECT: "" },
    description: `${p.kind === "index" ? `gpu ${p.index} ` : "gpu "}(PCI ${address}${
      known ? `, ${hex(known.vendor, 4)}:${hex(known.device, 4)}` : ""
    })`,
    expect: known ? { vendor: known.vendor, device: known.device } : null,
  };
}

/**
 * The GPU a Slurm task was given, as an index, or null outside Slurm or
 * without GPUs. Slurm writes the job's global GPU indices (the order of
 * `gres.conf`, which `AutoDetect=nvml` makes PCI order) to `SLURM_STEP_GPUS`
 * (or `SLURM_JOB_GPUS`), and sets `CUDA_VISIBLE_DEVICES` for CUDA only; with
 * `ConstrainDevices=yes` its cgroup also hides the other GPUs' device files,
 * so a Vulkan driver cannot open them anyway.
 *
 * @example
 * ```ts
 * import { slurmGpu } from "./gpu_select.ts";
 * if (slurmGpu({ SLURM_JOB_ID: "7", SLURM_STEP_GPUS: "2,3" }) !== 2) throw new Error();
 * if (slurmGpu({ CUDA_VISIBLE_DEVICES: "1" }) !== null) throw new Error();
 * ```
 */
export function slurmGpu(env: Record<string, string | undefined>): number | null {
  if (!env.SLURM_JOB_ID) return null;
  const list = env.SLURM_STEP_GPUS || env.SLURM_JOB_GPUS;
  const first = list?.split(",")[0]?.trim();
  return first && /^\d+$/.test(first) ? Number(first) : null;
}

/** The selection of this process's first adapter request ("" for the default); null before it. */
let firstRequest: string | null = null;
let current: GpuEnvironment | null = null;

/**
 * Sets the environment for an adapter request with `selection` before the
 * process's first one, and returns what the adapter must match (null for the
 * default adapter). The first request fixes the GPU for the life of the
 * process (wgpu's instance is made once): a later request without a
 * selection gets the same GPU, one with the same selection is fine, one with
 * another selection is an error. With `check: false` the adapter is not
 * checked against the selection (a best effort).
 */
export async function applyGpuSelection(
  selection: GpuSelection | null | undefined,
  opts: { sysfs?: string; check?: boolean } = {},
): Promise<GpuEnvironment | null> {
  const key = selection === null || selection === undefined ? "" : String(selection);
  if (firstRequest !== null) {
    if (key === "" || key === firstRequest) return current;
    throw new Error(
      `Cannot select gpu ${key}: this process already uses ` +
        `${
          firstRequest ? `gpu ${firstRequest}` : "the default adapter"
        }, and WebGPU fixes the GPU ` +
        `at a process's first adapter request; use another process`,
    );
  }
  if (key === "") {
    firstRequest = key;
    return null;
  }
  const sel = await gpuEnvironment(selection!, opts);
  for (const [k, v] of Object.entries(sel.env)) {
    if (!envAllowed(k)) {
      throw new Error(
        `Cannot select gpu ${key}: expected permission to set ${k} (--allow-env=${k}), got none`,
      );
    }
    if (v === "") Deno.env.delete(k);
    else Deno.env.set(k, v);
  }
  firstRequest = key;
  // Without the check the adapter is taken as it comes (a best effort, e.g. Slurm's GPU).
  current = opts.check === false ? { ...sel, expect: null } : sel;
  return current;
}

/**
 * Throws when the adapter's PCI ids differ from what the selection expects
 * (the selection was not honoured: no device-select layer, or no such GPU).
 */
export function checkSelectedAdapter(
  sel: GpuEnvironment,
  info: { vendor: string; device: string; description: string },
): void {
  if (!sel.expect) return;
  const vendor = Number(info.vendor);
  const device = Number(info.device);
  if (vendor === sel.expect.vendor && device === sel.expect.device) return;
  throw new Error(
    `Cannot select ${sel.description}: expected an adapter with PCI id ` +
      `${hex(sel.expect.vendor, 4)}:${hex(sel.expect.device, 4)}, got '${info.description}' ` +
      `(${Number.isFinite(vendor) ? hex(vendor, 4) : info.vendor}:${
        Number.isFinite(device) ? hex(device, 4) : info.device
      }). The selection works through Mesa's Vulkan device-select layer ` +
      `(VK_LAYER_MESA_device_select; Debian/Ubuntu: apt install mesa-vulkan-drivers); ` +
      `without it, limit the GPUs the driver sees (Slurm with ConstrainDevices=yes, or VK_ICD_FILENAMES)`,
  );
}
