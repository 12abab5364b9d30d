/**
 * A search's state: plain files in the experiment folder, no database.
 *
 *     runs/<name>/search/<grid id>/search.json        what the search is (written once)
 *     runs/<name>/search/<grid id>/jobs/<trial>.r<k>.json   one per job
 *
 * (`<grid id>` is `default` without a grid.) A job file appears whole or not
 * at all: it is written aside and linked into place, which fails when the
 * file exists, so of several workers that decide on the same new trial or
 * promotion exactly one creates it. Its result is added by writing the
 * whole file again aside and renaming it over the old one. Who trains a
 * job is decided by its trial's run folder `lock` (`run/run_lock.ts`), not
 * by the job file: a job whose worker died is resumed by whoever takes the
 * lock next, from the trial's checkpoint.
 *
 * @module
 */

import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { Experiment } from "../experiment/config.ts";
import { type SearchSpec, searchYaml } from "../experiment/search_spec.ts";
import { EXTENDING_KEYS, settingChanges } from "../run/fingerprint.ts";
import { isTempFile, writeFileAtomic } from "../util/fs.ts";
import type { Job, JobResult, Schedule } from "./schedule.ts";

/** The folder of a search's state. */
export function searchStateDir(output: string, name: string, gridId: string): string {
  return join(output, name, "search", gridId);
}

/** What `search.json` records. */
export interface SearchHeader {
  kind: "firstspike-search";
  /** The grid point this search belongs to (`default` without a grid) and its values. */
  grid_id: string;
  grid_point: Record<string, unknown>;
  /** The `search:` section, every key written out. */
  search: Record<string, unknown>;
  /** The rungs' epochs and Hyperband's deal. */
  schedule: { rungs: number[]; deal: number[] };
  /** The settings every trial starts from (before its draw). */
  settings: Experiment;
  /** Who created it, and when. */
  created: { host: string; pid: number; time: string };
}

/** Thrown when a search folder holds a search with other settings. */
export class SearchChanged extends Error {
  constructor(dir: string, changes: string[]) {
    super(
      `Cannot continue the search in '${dir}': it was started with other settings ` +
        `(${changes.join("; ")}). Its trials would mix two searches: give another --output, ` +
        `or remove that experiment folder to start over.`,
    );
    this.name = "SearchChanged";
  }
}

/** The header of a new search. */
export function searchHeader(
  gridId: string,
  gridPoint: Record<string, unknown>,
  spec: SearchSpec,
  schedule: Schedule,
  settings: Experiment,
): SearchHeader {
  return {
    kind: "firstspike-search",
    grid_id: gridId,
    grid_point: structuredClone(gridPoint),
    search: searchYaml(spec),
    schedule: { rungs: [...schedule.rungs], deal: [...schedule.deal] },
    settings: structuredClone(settings),
    created: { host: Deno.hostname(), pid: Deno.pid, time: new Date().toISOString() },
  };
}

/**
 * How a recorded header differs from a new one, as `key: old -> new`, in
 * what changes the search: every search key but `trials` (more trials
 * extend a search) and the settings that change a trial's trajectory or its
 * epochs. Places (`output`, `data_dir`, ...) may differ.
 */
export function headerChanges(old: SearchHeader, now: SearchHeader): string[] {
  const out: string[] = [];
  const show = (v: unknown) => JSON.stringify(v);
  for (const k of Object.keys({ ...old.search, ...now.search })) {
    if (k === "trials") continue;
    if (!isDeepStrictEqual(old.search[k], now.search[k])) {
      out.push(`search.${k}: ${show(old.search[k])} -> ${show(now.search[k])}`);
    }
  }
  for (const c of settingChanges(old.settings, now.settings)) {
    out.push(`${c.key}: ${show(c.old)} -> ${show(c.new)}`);
  }
  for (const k of EXTENDING_KEYS) {
    const a = old.settings[k] ?? null, b = now.settings[k] ?? null;
    if (!isDeepStrictEqual(a, b)) out.push(`${k}: ${show(a)} -> ${show(b)}`);
  }
  return out;
}

/**
 * Writes `text` to `path` only if nothing is there: written aside, flushed,
 * then linked into place (atomic; fails when `path` exists). Returns whether
 * this call created it.
 */
export async function createExclusive(path: string, text: string): Promise<boolean> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash);
  const aside = `${dir}/.${path.slice(slash + 1)}.tmp-${Deno.pid}-${
    crypto.randomUUID().slice(0, 8)
  }`; // isTempFile
  await Deno.mkdir(dir, { recursive: true });
  try {
    const f = await Deno.open(aside, { write: true, createNew: true });
    try {
      const bytes = new TextEncoder().encode(text);
      for (let at = 0; at < bytes.length;) at += await f.write(bytes.subarray(at));
      await f.syncData();
    } finally {
      f.close();
    }
    try {
      await Deno.link(aside, path);
      return true;
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return false;
      throw e;
    }
  } finally {
    await Deno.remove(aside).catch(() => {});
  }
}

/**
 * Opens the search in `dir`: creates `search.json` from `header`, or checks
 * that the one there describes the same search (throws {@link SearchChanged}
 * naming each difference). Returns the header on disk.
 */
export async function openSearch(dir: string, header: SearchHeader): Promise<SearchHeader> {
  const path = join(dir, "search.json");
  if (await createExclusive(path, JSON.stringify(header, null, 2) + "\n")) return header;
  const old = await readHeader(dir);
  if (old === null) throw new Error(`Cannot read '${path}': it vanished while the search opened`);
  const changes = headerChanges(old, header);
  if (changes.length > 0) throw new SearchChanged(dir, changes);
  return old;
}

/** Reads `search.json`, or null when the folder holds no search. */
export async function readHeader(dir: string): Promise<SearchHeader | null> {
  const path = join(dir, "search.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    const h = JSON.parse(text) as SearchHeader;
    if (h?.kind !== "firstspike-search") throw new Error("expected kind firstspike-search");
    return h;
  } catch (e) {
    throw new Error(`Cannot read '${path}': ${(e as Error).message}`);
  }
}

/** The file of a job. */
export function jobPath(dir: string, job: Pick<Job, "trial" | "rung">): string {
  return join(dir, "jobs", `${job.trial}.r${job.rung}.json`);
}

function jobText(job: Job, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...job, ...extra }) + "\n";
}

/**
 * Records a new job unless it exists. Returns whether this call created it
 * (false: another worker decided the same at the same time).
 */
export function createJob(dir: string, job: Job): Promise<boolean> {
  const created = { host: Deno.hostname(), pid: Deno.pid, time: new Date().toISOString() };
  return createExclusive(jobPath(dir, job), jobText({ ...job, result: undefined }, { created }));
}

/** Records how a job ended (replacing its file atomically). */
export async function finishJob(dir: string, job: Job, result: JobResult): Promise<void> {
  const path = jobPath(dir, job);
  let created: unknown = null;
  try {
    created = JSON.parse(await Deno.readTextFile(path)).created ?? null;
  } catch {
    // not there (a job recorded after the fact) or unreadable: record it anew
  }
  await writeFileAtomic(
    path,
    jobText({ ...job, result }, { created, finished: new Date().toISOString() }),
  );
}

/** Reads every job of a search (none when the folder is new), sorted by trial and rung. */
export async function readJobs(dir: string): Promise<Job[]> {
  const jobsDir = join(dir, "jobs");
  const out: Job[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(jobsDir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  for (const e of entries) {
    if (!e.isFile || isTempFile(e.name) || !/\.r\d+\.json$/.test(e.name)) continue;
    const path = join(jobsDir, e.name);
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(await Deno.readTextFile(path));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue;
      throw new Error(`Cannot read the search job '${path}': ${(err as Error).message}`);
    }
    if (
      typeof raw.trial !== "string" || !Number.isInteger(raw.index) ||
      !Number.isInteger(raw.rung) || !Number.isInteger(raw.epochs) ||
      typeof raw.point !== "object" || raw.point === null
    ) {
      throw new Error(
        `Cannot read the search job '${path}': expected trial, index, rung, epochs and point`,
      );
    }
    out.push({
      trial: raw.trial,
      index: raw.index as number,
      rung: raw.rung as number,
      epochs: raw.epochs as number,
      bracket: Number.isInteger(raw.bracket) ? raw.bracket as number : 0,
      point: raw.point as Record<string, unknown>,
      ...(raw.result ? { result: raw.result as JobResult } : {}),
    });
  }
  return out.sort((a, b) => a.index - b.index || a.rung - b.rung);
}
