// Choosing the GPU: the selection's syntax and errors, its resolution
// through a PCI tree (a fake sysfs here), Slurm's GPU, the check of the
// adapter against the selection, and, where two software Vulkan drivers
// and Mesa's device-select layer are at hand, a real choice between two
// adapters in a subprocess.
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkSelectedAdapter,
  gpuEnvironment,
  gpuProblem,
  parseGpu,
  pciGpus,
  slurmGpu,
} from "../src/engine/gpu_select.ts";
import { withTempDir } from "./_data.ts";

Deno.test("parseGpu: indices, PCI addresses in both spellings, vendor:device ids", () => {
  assert.deepEqual(parseGpu(0), { kind: "index", index: 0 });
  assert.deepEqual(parseGpu("3"), { kind: "index", index: 3 });
  const pci = { kind: "pci", domain: 0, bus: 0x41, device: 0, fn: 0 };
  assert.deepEqual(parseGpu("0000:41:00.0"), pci);
  assert.deepEqual(parseGpu("00000000:41:00.0"), pci); // as nvidia-smi prints it
  assert.deepEqual(parseGpu("41:00.0"), pci);
  assert.deepEqual(parseGpu("pci-0000_41_00_0"), pci); // DRI_PRIME's spelling
  assert.deepEqual(parseGpu("10DE:2335"), { kind: "id", vendor: 0x10de, device: 0x2335 });
  for (const bad of [-1, 1.5, "gpu1", "", "0000:41:00.8", [0], true]) {
    assert.equal(
      gpuProblem(bad),
      "expected an index (0, 1, ...), a PCI address such as '0000:41:00.0' or " +
        "'pci-0000_41_00_0', or a vendor:device id such as '10de:2335', or null, got " +
        JSON.stringify(bad),
    );
  }
  assert.equal(gpuProblem(2), null);
});

/** A fake /sys/bus/pci/devices with the given devices (address, class, vendor, device). */
async function fakeSysfs(root: string, devices: [string, number, number, number][]) {
  for (const [addr, cls, vendor, device] of devices) {
    const d = join(root, addr);
    await Deno.mkdir(d, { recursive: true });
    const hex = (n: number, w: number) => `0x${n.toString(16).padStart(w, "0")}\n`;
    await Deno.writeTextFile(join(d, "class"), hex(cls, 6));
    await Deno.writeTextFile(join(d, "vendor"), hex(vendor, 4));
    await Deno.writeTextFile(join(d, "device"), hex(device, 4));
  }
}

Deno.test("an index is the N-th display controller in PCI order; its address and ids follow", async () => {
  await withTempDir(async (root) => {
    await fakeSysfs(root, [
      ["0000:c1:00.0", 0x030200, 0x10de, 0x2335], // 3D controller (an H200)
      ["0000:00:02.0", 0x030000, 0x1a03, 0x2000], // the board's VGA
      ["0000:41:00.0", 0x030200, 0x10de, 0x2335],
      ["0000:00:1f.2", 0x010601, 0x8086, 0xa182], // a SATA controller: not a GPU
    ]);
    const gpus = await pciGpus(root);
    assert.deepEqual(gpus.map((g) => g.address), ["0000:00:02.0", "0000:41:00.0", "0000:c1:00.0"]);
    const env = { DENO_WEBGPU_BACKEND: undefined };
    const sel = await gpuEnvironment(2, { sysfs: root, env });
    assert.deepEqual(sel.env, {
      MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: "1",
      DENO_WEBGPU_BACKEND: "vulkan",
      DRI_PRIME: "pci-0000_c1_00_0",
      MESA_VK_DEVICE_SELECT: "",
    });
    assert.deepEqual(sel.expect, { vendor: 0x10de, device: 0x2335 });
    assert.equal(sel.description, "gpu 2 (PCI 0000:c1:00.0, 10de:2335)");
    const byAddress = await gpuEnvironment("00000000:41:00.0", { sysfs: root, env });
    assert.equal(byAddress.env.DRI_PRIME, "pci-0000_41_00_0");
    // A user's own backend choice is kept.
    const kept = await gpuEnvironment(1, { sysfs: root, env: { DENO_WEBGPU_BACKEND: "gl" } });
    assert.equal(kept.env.DENO_WEBGPU_BACKEND, undefined);
    await assert.rejects(
      () => gpuEnvironment(3, { sysfs: root, env }),
      {
        message: "gpu: expected an index below the number of GPUs on the PCI bus (3: " +
          "0 0000:00:02.0 1a03:2000, 1 0000:41:00.0 10de:2335, 2 0000:c1:00.0 10de:2335), got 3",
      },
    );
    await assert.rejects(
      () => gpuEnvironment("0000:42:00.0", { sysfs: root, env }),
      /expected the PCI address of a GPU \(0000:00:02\.0, 0000:41:00\.0, 0000:c1:00\.0\), got '0000:42:00\.0'/,
    );
  });
});

Deno.test("vendor:device needs no PCI tree; no sysfs at all leaves an index unresolvable", async () => {
  const sel = await gpuEnvironment("1ae0:c0de", { sysfs: "/nonexistent", env: {} });
  assert.deepEqual(sel.env, {
    MESA_VK_DEVICE_SELECT_FORCE_DEFAULT_DEVICE: "1",
    DENO_WEBGPU_BACKEND: "vulkan",
    MESA_VK_DEVICE_SELECT: "1ae0:c0de",
  });
  await assert.rejects(
    () => gpuEnvironment(0, { sysfs: "/nonexistent", env: {} }),
    /\(0: none found in sysfs\), got 0/,
  );
});

Deno.test("slurmGpu: the first of the job's GPUs, only inside a Slurm job", () => {
  assert.equal(slurmGpu({ SLURM_JOB_ID: "1", SLURM_STEP_GPUS: "3", SLURM_JOB_GPUS: "5" }), 3);
  assert.equal(slurmGpu({ SLURM_JOB_ID: "1", SLURM_JOB_GPUS: "5,6" }), 5);
  assert.equal(slurmGpu({ SLURM_JOB_ID: "1" }), null);
  assert.equal(slurmGpu({ SLURM_JOB_GPUS: "2", CUDA_VISIBLE_DEVICES: "2" }), null);
  assert.equal(slurmGpu({ SLURM_JOB_ID: "1", SLURM_JOB_GPUS: "(null)" }), null);
});

Deno.test("an adapter that is not the selected one is an error naming both", () => {
  const sel = { env: {}, description: "gpu 10de:2335", expect: { vendor: 0x10de, device: 0x2335 } };
  checkSelectedAdapter(sel, { vendor: "4318", device: "9013", description: "NVIDIA H200" });
  assert.throws(
    () => checkSelectedAdapter(sel, { vendor: "65541", device: "0", description: "llvmpipe" }),
    /^Error: Cannot select gpu 10de:2335: expected an adapter with PCI id 10de:2335, got 'llvmpipe' \(10005:0000\)\. The selection works through Mesa's Vulkan device-select layer/,
  );
  checkSelectedAdapter({ ...sel, expect: null }, { vendor: "1", device: "2", description: "x" });
});

// Two different software Vulkan drivers (Mesa's lavapipe and SwiftShader)
// behind the device-select layer, in a subprocess whose loader sees only
// them. The libraries come from the system or from $FIRSTSPIKE_VK_ROOT (a
// folder where Debian's mesa-vulkan-drivers and libvulkan1 are unpacked:
// `dpkg -x <deb> <dir>`); SwiftShader from Chromium's package.
const LIB = "usr/lib/x86_64-linux-gnu";
function findFile(candidates: string[]): string | null {
  for (const c of candidates) {
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* not there */ }
  }
  return null;
}
const vkRoot = Deno.env.get("FIRSTSPIKE_VK_ROOT") ?? "/";
const LIBS = {
  loader: findFile([join(vkRoot, LIB, "libvulkan.so.1"), `/${LIB}/libvulkan.so.1`]),
  lavapipe: findFile([join(vkRoot, LIB, "libvulkan_lvp.so"), `/${LIB}/libvulkan_lvp.so`]),
  layer: findFile([
    join(vkRoot, LIB, "libVkLayer_MESA_device_select.so"),
    `/${LIB}/libVkLayer_MESA_device_select.so`,
  ]),
  swiftshader: findFile(["/usr/lib/chromium/libvk_swiftshader.so"]),
};
const missing = Object.entries(LIBS).filter(([, v]) => v === null).map(([k]) => k);

Deno.test({
  name: "two software adapters: --gpu vendor:device picks either, a missing one is an error",
  ignore: missing.length > 0,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withTempDir(async (dir) => {
      const icd = (lib: string, api: string) =>
        JSON.stringify({
          file_format_version: "1.0.0",
          ICD: { api_version: api, library_path: lib },
        });
      await Deno.writeTextFile(join(dir, "lvp.json"), icd(LIBS.lavapipe!, "1.1.230"));
      await Deno.writeTextFile(join(dir, "swiftshader.json"), icd(LIBS.swiftshader!, "1.0.5"));
      await Deno.mkdir(join(dir, "layers"));
      await Deno.writeTextFile(
        join(dir, "layers", "device_select.json"),
        JSON.stringify({
          file_format_version: "1.0.0",
          layer: {
            name: "VK_LAYER_MESA_device_select",
            type: "GLOBAL",
            library_path: LIBS.layer,
            api_version: "1.3.211",
            implementation_version: "1",
            description: "Linux device selection layer",
            functions: {
              vkNegotiateLoaderLayerInterfaceVersion: "vkNegotiateLoaderLayerInterfaceVersion",
            },
          },
        }),
      );
      const script = join(dir, "probe.ts");
      await Deno.writeTextFile(
        script,
        `import { Engine } from ${
          JSON.stringify(new URL("../src/engine/gpu.ts", import.meta.url).href)
        };
try {
  const e = await Engine.create({ gpu: Deno.args[0] });
  console.log(JSON.stringify({ adapter: e.adapterName, selection: e.selection }));
  e.destroy();
} catch (err) {
  console.log(JSON.stringify({ error: (err as Error).message }));
}
`,
      );
      const run = async (gpu: string, layer = true) => {
        const env: Record<string, string> = {
          XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp",
          LD_LIBRARY_PATH: join(LIBS.loader!, ".."),
          VK_ICD_FILENAMES: `${join(dir, "lvp.json")}:${join(dir, "swiftshader.json")}`,
          PATH: Deno.env.get("PATH") ?? "",
          HOME: Deno.env.get("HOME") ?? "/tmp",
        };
        if (layer) {
          // Installed system-wide the layer is implicit; from a folder it is enabled by name.
          env.VK_LAYER_PATH = join(dir, "layers");
          env.VK_INSTANCE_LAYERS = "VK_LAYER_MESA_device_select";
        } else {
          // Where mesa-vulkan-drivers is installed the layer is implicit, always on unless
          // its manifest's disable_environment is set.
          env.NODEVICE_SELECT = "1";
        }
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", script, gpu],
          env,
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout).trim().split("\n").pop()!;
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        return JSON.parse(text);
      };
      const lvp = await run("10005:0");
      assert.match(lvp.adapter, /^llvmpipe/);
      assert.equal(lvp.selection, "gpu 10005:0");
      const ss = await run("1ae0:c0de");
      assert.match(ss.adapter, /^SwiftShader/);
      const none = await run("10de:2335");
      assert.match(
        none.error,
        /^Cannot select gpu 10de:2335: expected an adapter with PCI id 10de:2335, got '.+' \(/,
      );
      // Without the layer nothing selects: one of the two gets the default adapter, the
      // other an error that says why (instead of a run on the wrong adapter).
      const unlayered = [await run("10005:0", false), await run("1ae0:c0de", false)];
      assert.equal(unlayered.filter((r) => r.adapter).length, 1, JSON.stringify(unlayered));
      assert.match(unlayered.find((r) => r.error).error, /device-select layer/);
    });
  },
});
