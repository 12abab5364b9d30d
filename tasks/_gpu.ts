/**
 * The GPU of a task: `--gpu`, else the experiment's `gpu:` setting, else the
 * GPU Slurm gave the job (a best effort, see `slurmGpu`), else the default
 * adapter. Fixed before any engine is made, and printed.
 *
 * @module
 */

import { describeAdapter } from "../src/engine/gpu.ts";
import {
  applyGpuSelection,
  GPU_ENV,
  gpuProblem,
  type GpuSelection,
  pciGpus,
  slurmGpu,
} from "../src/engine/gpu_select.ts";
import { UsageError } from "./_args.ts";
import { envRecord } from "../src/util/env.ts";

/** The `--gpu` option of every task that uses the GPU. */
export const GPU_OPTION = {
  name: "gpu",
  type: "string",
  value: "ID",
  help: "GPU to use: index (nvidia-smi order), PCI address 0000:41:00.0 or vendor:device 10de:2335",
} as const;

/** Checks a `--gpu` value; a bad one is a usage error. */
export function gpuFlag(value: string | undefined): GpuSelection | undefined {
  if (value === undefined) return undefined;
  const problem = gpuProblem(value);
  if (problem !== null) throw new UsageError(`--gpu: ${problem}`);
  return /^\d+$/.test(value.trim()) ? Number(value) : value;
}

/**
 * Fixes the process's GPU and returns the adapter line (`adapter: ...`),
 * which the caller prints. `flag` wins over `setting`; without either, a
 * Slurm job with several GPUs on the node asks for the one Slurm gave it.
 */
export async function startGpu(opts: {
  flag?: GpuSelection;
  setting?: GpuSelection | null;
  env?: Record<string, string | undefined>;
}): Promise<string> {
  const env = opts.env ?? envRecord(GPU_ENV);
  const chosen = opts.flag ?? opts.setting ?? null;
  let note = "";
  if (chosen !== null) {
    await applyGpuSelection(chosen);
    note = opts.flag !== undefined ? " [--gpu]" : " [gpu setting]";
  } else {
    const given = slurmGpu(env);
    if (given !== null && (await pciGpus()).length > 1) {
      try {
        await applyGpuSelection(given, { check: false });
        note = ` [Slurm's GPU ${given}]`;
      } catch (e) {
        note = ` [Slurm's GPU ${given} not selected: ${(e as Error).message}]`;
      }
    }
  }
  return `adapter: ${await describeAdapter()}${note}`;
}
