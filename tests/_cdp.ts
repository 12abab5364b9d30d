// A small Chrome DevTools protocol client for browser tests: starts headless
// Chromium (Debian's `chromium`, or $FIRSTSPIKE_CHROMIUM) with a new empty profile,
// opens pages, evaluates script, waits for conditions and takes screenshots.
// Nothing leaves the machine: the browser runs with background networking off.
import { join } from "node:path";

/** Where Chromium is, or null. */
export async function findChromium(): Promise<string | null> {
  const env = Deno.env.get("FIRSTSPIKE_CHROMIUM");
  const names = env ? [env] : ["chromium", "chromium-browser", "google-chrome", "chrome"];
  for (const n of names) {
    const candidates = n.includes("/")
      ? [n]
      : (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":").map((d) => join(d, n));
    for (const c of candidates) {
      try {
        const st = await Deno.stat(c);
        if (st.isFile && (st.mode ?? 0o111) & 0o111) return c;
      } catch { /* not here */ }
    }
  }
  return null;
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  method: string;
}

/** One DevTools connection (the browser endpoint; pages are sessions on it). */
class Connection {
  #ws: WebSocket;
  #id = 0;
  #pending = new Map<number, Pending>();
  #listeners = new Set<(msg: any) => void>();
  #closed: Promise<void>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#closed = new Promise((r) => ws.addEventListener("close", () => r()));
    ws.addEventListener("message", (e) => {
      const msg = JSON.parse(e.data as string);
      if (typeof msg.id === "number" && this.#pending.has(msg.id)) {
        const p = this.#pending.get(msg.id)!;
        this.#pending.delete(msg.id);
        if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
        else p.resolve(msg.result);
      } else {
        for (const l of this.#listeners) l(msg);
      }
    });
    ws.addEventListener("close", () => {
      for (const p of this.#pending.values()) p.reject(new Error(`${p.method}: connection closed`));
      this.#pending.clear();
    });
  }

  static connect(url: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.addEventListener("open", () => resolve(new Connection(ws)), { once: true });
      ws.addEventListener("error", () => reject(new Error(`Cannot connect to ${url}`)), {
        once: true,
      });
    });
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<any> {
    const id = ++this.#id;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
      this.#ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  }

  on(listener: (msg: any) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close();
    }
    await this.#closed;
  }
}

/** A page: a target attached with its own session. */
export class Page {
  readonly errors: string[] = [];
  readonly requests: string[] = [];
  #conn: Connection;
  #session: string;
  #off: () => void;

  constructor(conn: Connection, session: string) {
    this.#conn = conn;
    this.#session = session;
    this.#off = conn.on((msg) => {
      if (msg.sessionId !== session) return;
      if (msg.method === "Runtime.exceptionThrown") {
        const d = msg.params.exceptionDetails;
        this.errors.push(d.exception?.description ?? d.text);
      } else if (msg.method === "Runtime.consoleAPICalled" && msg.params.type === "error") {
        this.errors.push(msg.params.args.map((a: any) => a.value ?? a.description).join(" "));
      } else if (msg.method === "Network.requestWillBeSent") {
        this.requests.push(msg.params.request.url);
      }
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<any> {
    return this.#conn.send(method, params, this.#session);
  }

  /** Waits for one event of this page. */
  event(method: string, ms = 30000): Promise<any> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${method} within ${ms} ms`));
      }, ms);
      const off = this.#conn.on((msg) => {
        if (msg.sessionId === this.#session && msg.method === method) {
          clearTimeout(timer);
          off();
          resolve(msg.params);
        }
      });
    });
  }

  /** Navigates and waits for the load event. */
  async goto(url: string): Promise<void> {
    const loaded = this.event("Page.loadEventFired");
    const r = await this.send("Page.navigate", { url });
    if (r.errorText) throw new Error(`Cannot open ${url}: ${r.errorText}`);
    await loaded;
  }

  /** Evaluates an expression (awaiting a promise) and returns its value. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    if (r.exceptionDetails) {
      throw new Error(
        `${expression}: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`,
      );
    }
    return r.result.value as T;
  }

  /** Polls an expression until it is truthy; returns its value or throws after `ms`. */
  async waitFor<T = unknown>(expression: string, ms = 20000): Promise<T> {
    const deadline = Date.now() + ms;
    let last: unknown;
    for (;;) {
      try {
        last = await this.evaluate(expression);
        if (last) return last as T;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `waited ${ms} ms for ${expression}; last: ${
            last instanceof Error ? last.message : JSON.stringify(last)
          }; page errors: ${this.errors.join(" | ") || "none"}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A PNG of the page as shown. */
  async screenshot(): Promise<Uint8Array> {
    const r = await this.send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
  }

  detach(): void {
    this.#off();
  }
}

/** A headless Chromium with a fresh profile. */
export class Browser {
  #child: Deno.ChildProcess;
  #conn: Connection;
  #profile: string;

  private constructor(child: Deno.ChildProcess, conn: Connection, profile: string) {
    this.#child = child;
    this.#conn = conn;
    this.#profile = profile;
  }

  /** Starts Chromium; throws saying why when it cannot start within `ms`. */
  static async launch(path: string, ms = 30000): Promise<Browser> {
    const profile = await Deno.makeTempDir({ prefix: "firstspike_chromium_" });
    const child = new Deno.Command(path, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        "--window-size=1400,1000",
        `--user-data-dir=${profile}`,
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const fail = async (why: string): Promise<never> => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw new Error(why);
    };
    const deadline = Date.now() + ms;
    const state: { exited: Deno.CommandStatus | null } = { exited: null };
    child.status.then((s) => state.exited = s);
    for (;;) {
      try {
        const [port, path] = (await Deno.readTextFile(join(profile, "DevToolsActivePort")))
          .trim().split("\n");
        if (port && path) {
          const conn = await Connection.connect(`ws://127.0.0.1:${port}${path}`);
          return new Browser(child, conn, profile);
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound) && !/Cannot connect/.test(String(e))) {
          return fail(`${path}: ${e instanceof Error ? e.message : e}`);
        }
      }
      if (state.exited) {
        return fail(`${path} exited with code ${state.exited.code} before it listened`);
      }
      if (Date.now() > deadline) return fail(`${path} did not start within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A new page (tab) with runtime, page and network events on. */
  async newPage(): Promise<Page> {
    const { targetId } = await this.#conn.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.#conn.send("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const page = new Page(this.#conn, sessionId);
    await page.send("Page.enable");
    await page.send("Runtime.enable");
    await page.send("Network.enable");
    return page;
  }

  async close(): Promise<void> {
    await this.#conn.send("Browser.close").catch(() => {});
    await this.#conn.close();
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await this.#child.status;
    clearTimeout(timer);
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }
}

/** Why Chromium cannot be used here, or null when it starts. */
export async function chromiumProblem(): Promise<string | null> {
  const path = await findChromium();
  if (!path) {
    return "no Chromium found (install Debian's 'chromium' with tasks/setup.sh, or set FIRSTSPIKE_CHROMIUM)";
  }
  try {
    await (await Browser.launch(path)).close();
    return null;
  } catch (e) {
    return `Chromium cannot start: ${e instanceof Error ? e.message : e}`;
  }
}

/** Width and height of a PNG, checking its signature and header chunk. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!sig.every((b, i) => png[i] === b)) throw new Error("not a PNG: bad signature");
  const type = new TextDecoder().decode(png.subarray(12, 16));
  if (type !== "IHDR") throw new Error(`not a PNG: first chunk ${type}`);
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: v.getUint32(16), height: v.getUint32(20) };
}
