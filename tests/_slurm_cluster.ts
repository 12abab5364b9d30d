/**
 * Test helper: a private one-node Slurm cluster (munged, slurmctld, slurmd) in a
 * temporary folder. Installing Slurm is not its job (`apt-get install -y slurm-wlm
 * munge`); it only writes a config, starts the daemons, waits until the node is
 * idle, and stops everything it started.
 *
 * Everything lives under the temporary folder: munge key and socket
 * (`AuthInfo=socket=...`), state, spool, logs, pid files; ports are free ones.
 * Clients reach the cluster through `SLURM_CONF` (see {@link SlurmCluster.env}).
 *
 * @module
 */

import { join } from "node:path";

/** A running cluster. */
export interface SlurmCluster {
  /** The temporary folder holding config, state and logs. */
  dir: string;
  /** Path of slurm.conf. */
  conf: string;
  /** Environment for clients: `{ SLURM_CONF }`. */
  env: Record<string, string>;
  /** Runs a client command (sbatch, squeue, ...) against this cluster. */
  run(cmd: string, args: string[], opts?: { cwd?: string; env?: Record<string, string> }): Promise<
    { code: number; stdout: string; stderr: string }
  >;
  /** Cancels all jobs, stops the daemons and removes the folder. */
  stop(): Promise<void>;
  /** Kills the daemons at once (for an unload handler; no waiting). */
  killNow(): void;
}

async function which(cmd: string): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    try {
      const p = join(dir, cmd);
      if ((await Deno.stat(p)).isFile) return p;
    } catch {
      // not here
    }
  }
  return null;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function tail(path: string, lines = 15): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Memory in MiB from /proc/meminfo (MemTotal). */
export async function memTotalMiB(): Promise<number> {
  const text = await Deno.readTextFile("/proc/meminfo");
  const m = /^MemTotal:\s+(\d+)\s+kB/m.exec(text);
  if (!m) throw new Error(`Cannot read /proc/meminfo: expected a 'MemTotal: N kB' line`);
  return Math.floor(Number(m[1]) / 1024);
}

/** The slurm.conf text of a one-node cluster rooted at `dir`. */
export function slurmConf(o: {
  dir: string;
  cpus: number;
  memMiB: number;
  ctldPort: number;
  slurmdPort: number;
}): string {
  const d = o.dir;
  return [
    "ClusterName=firstspike",
    "SlurmctldHost=localhost",
    `SlurmctldPort=${o.ctldPort}`,
    `SlurmdPort=${o.slurmdPort}`,
    "AuthType=auth/munge",
    "CredType=cred/munge",
    `AuthInfo=socket=${d}/munge/munge.sock`,
    "SlurmUser=root",
    "SlurmdUser=root",
    "MpiDefault=none",
    "ProctrackType=proctrack/linuxproc",
    "TaskPlugin=task/none",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_Core",
    "SchedulerType=sched/backfill",
    "ReturnToService=2",
    "JobAcctGatherType=jobacct_gather/none",
    "AccountingStorageType=accounting_storage/none",
    "MinJobAge=300",
    "KillWait=10",
    `StateSaveLocation=${d}/state`,
    `SlurmdSpoolDir=${d}/spool`,
    `SlurmctldPidFile=${d}/slurmctld.pid`,
    `SlurmdPidFile=${d}/slurmd.pid`,
    `SlurmctldLogFile=${d}/log/slurmctld.log`,
    `SlurmdLogFile=${d}/log/slurmd.log`,
    `NodeName=localhost CPUs=${o.cpus} RealMemory=${o.memMiB} State=UNKNOWN`,
    "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP",
    "",
  ].join("\n");
}

/**
 * Starts the cluster, or throws an Error whose message says why it cannot
 * (missing programs, not root, a daemon that died, a node that never got idle).
 */
export async function startCluster(opts: { timeoutMs?: number } = {}): Promise<SlurmCluster> {
  const programs: Record<string, string> = {};
  for (const p of ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue"]) {
    const path = await which(p);
    if (!path) {
      throw new Error(
        `expected '${p}' on PATH, got none (install with: apt-get install -y slurm-wlm munge)`,
      );
    }
    programs[p] = path;
  }
  if (Deno.uid() !== 0) {
    throw new Error(`expected to run as root (slurmd needs it), got uid ${Deno.uid()}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "firstspike_slurm_" });
  await Deno.chmod(dir, 0o755);
  for (const sub of ["munge", "state", "spool", "log"]) {
    await Deno.mkdir(join(dir, sub), { mode: 0o755 });
    await Deno.chmod(join(dir, sub), 0o755);
  }
  const children: { name: string; child: Deno.ChildProcess }[] = [];
  const conf = join(dir, "slurm.conf");
  const env = { SLURM_CONF: conf };
  let stopped = false;

  const run: SlurmCluster["run"] = async (cmd, args, o = {}) => {
    const res = await new Deno.Command(cmd, {
      args,
      cwd: o.cwd,
      env: { ...env, ...o.env },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: res.code, stdout: dec.decode(res.stdout), stderr: dec.decode(res.stderr) };
  };

  const killNow = () => {
    for (const { child } of [...children].reverse()) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  };

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Cancel jobs first: their steps outlive slurmd otherwise.
    try {
      const q = await run(programs.squeue, ["-h", "-o", "%A"]);
      const ids = [...new Set(q.stdout.split("\n").map((s) => s.trim()).filter(Boolean))];
      if (ids.length > 0) {
        await run("scancel", ids);
        for (let i = 0; i < 30; i++) {
          const left = await run(programs.squeue, ["-h", "-o", "%A"]);
          if (left.stdout.trim() === "") break;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    } catch {
      // the controller may be gone already
    }
    for (const { child } of [...children].reverse()) {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited
        }
      }, 10_000);
      await child.status;
      clearTimeout(timer);
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  const spawn = (name: string, cmd: string, args: string[]) => {
    const child = new Deno.Command(cmd, {
      args,
      env,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    children.push({ name, child });
    return child;
  };

  try {
    const key = join(dir, "munge", "munge.key");
    // A fresh key for this private cluster (munged and all clients share this socket).
    const mk = await run(programs.mungekey, ["--create", `--keyfile=${key}`]);
    if (mk.code !== 0) throw new Error(`mungekey --create failed: ${mk.stderr.trim()}`);
    const sock = join(dir, "munge", "munge.sock");
    spawn("munged", programs.munged, [
      "-F",
      `--key-file=${key}`,
      `--socket=${sock}`,
      `--pid-file=${join(dir, "munge", "munged.pid")}`,
      `--seed-file=${join(dir, "munge", "munged.seed")}`,
      `--log-file=${join(dir, "log", "munged.log")}`,
    ]);
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    while (true) {
      try {
        if ((await Deno.stat(sock)).isSocket) break;
      } catch {
        // not yet
      }
      if (Date.now() > deadline) {
        throw new Error(
          `munged did not create its socket: ${await tail(join(dir, "log", "munged.log"))}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const cpus = navigator.hardwareConcurrency || 1;
    await Deno.writeTextFile(
      conf,
      slurmConf({
        dir,
        cpus,
        memMiB: await memTotalMiB(),
        ctldPort: freePort(),
        slurmdPort: freePort(),
      }),
    );
    const ctld = spawn("slurmctld", programs.slurmctld, ["-D", "-i", "-f", conf]);
    const slurmd = spawn("slurmd", programs.slurmd, ["-D", "-f", conf, "-N", "localhost"]);
    let last = "";
    while (true) {
      const exited = await Promise.race([
        ctld.status.then(() => "slurmctld"),
        slurmd.status.then(() => "slurmd"),
        new Promise<null>((r) => setTimeout(() => r(null), 500)),
      ]);
      if (exited) {
        throw new Error(
          `${exited} exited while starting; log:\n${await tail(join(dir, "log", `${exited}.log`))}`,
        );
      }
      const s = await run(programs.sinfo, ["-h", "-N", "-o", "%N %T"]);
      last = (s.stdout + s.stderr).trim();
      if (/^localhost idle$/m.test(s.stdout)) break;
      if (Date.now() > deadline) {
        throw new Error(
          `node did not become idle within ${opts.timeoutMs ?? 30_000} ms; sinfo said ` +
            `'${last}'; slurmctld log:\n${await tail(join(dir, "log", "slurmctld.log"))}\n` +
            `slurmd log:\n${await tail(join(dir, "log", "slurmd.log"))}`,
        );
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { dir, conf, env, run, stop, killNow };
}
