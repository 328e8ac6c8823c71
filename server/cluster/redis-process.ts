import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../lib/ports.ts";
import { diesWithParent } from "../../lib/processes.ts";

/** Whether Debian's `redis-server` is on PATH. Tests that need it skip (and say so) without it. */
export function redisInstalled(): boolean {
  return spawnSync("sh", ["-c", "command -v redis-server"], { stdio: "ignore" }).status === 0;
}

export interface RunningRedis {
  /** `redis://127.0.0.1:PORT` (with `:password@` when there is one) */
  url: string;
  port: number;
  /** `rediss://127.0.0.1:TLS_PORT` (with the password) when started with `tls`. */
  tlsUrl?: string;
  /** The current redis-server process id (changes on restart). */
  pid(): number | undefined;
  /** Everything redis-server printed so far. */
  log(): string;
  /** Stops the server (SIGTERM, SIGKILL after 2 s). Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops it and starts a fresh one on the same port. Nothing is persisted, so the new server is
   * empty: what a crashed and replaced Redis looks like to its clients.
   */
  restart(): Promise<void>;
}

export interface StartRedisOptions {
  /** Milliseconds to wait for PING to answer. @default 5000 */
  readyTimeoutMs?: number;
  /** Extra `--name value` arguments for redis-server. */
  args?: string[];
  /** Clients must AUTH with it (as ElastiCache's auth token). */
  password?: string;
  /** Also listen with TLS on another port, with this certificate (clients are not asked for one). */
  tls?: { cert: string; key: string };
}

/**
 * Starts a real `redis-server` on 127.0.0.1 on a free port, without persistence, and resolves once
 * it answers PING.
 *
 * @example
 * const redis = await startRedis();
 * try { const client = new Redis(redis.url); ... } finally { await redis.stop(); }
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RunningRedis> {
  const dir = mkdtempSync(join(tmpdir(), "vchat-redis-"));
  let output = "";
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let port = 0;
  let tlsPort = 0;
  const secure = (p: number) =>
    opts.tls
      ? ["--tls-port", String(p), "--tls-cert-file", opts.tls.cert, "--tls-key-file", opts.tls.key, "--tls-ca-cert-file", opts.tls.cert, "--tls-auth-clients", "no"]
      : [];
  const auth = opts.password ? ["--requirepass", opts.password] : [];

  const launch = async (p: number): Promise<void> => {
    // `--save ""` and `--appendonly no`: tests want a clean, fast, disposable server; `--dir`
    // keeps any file redis-server might still write out of the checkout.
    const args = ["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
    // Dies with its parent: `vchat dev --nodes` killed with -9 leaves no redis-server behind.
    const proc = spawn(...diesWithParent("redis-server", [...args, ...secure(tlsPort), ...auth, ...(opts.args ?? [])]), { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    const keep = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    await waitPing(p, opts.password, opts.readyTimeoutMs ?? 5000, () => proc.exitCode !== null || proc.signalCode !== null);
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 2000);
      await exited;
      clearTimeout(timer);
    }
    child = null;
  };

  // The free port can be taken between asking and binding; try a few.
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    port = await freePort();
    if (opts.tls) tlsPort = await freePort();
    try {
      await launch(port);
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err;
      await kill();
    }
  }
  if (lastError !== undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`redis-server did not start: ${(lastError as Error).message}\n${output.slice(-2000)}`);
  }

  let stopped = false;
  const userinfo = opts.password ? `:${encodeURIComponent(opts.password)}@` : "";
  return {
    url: `redis://${userinfo}127.0.0.1:${port}`,
    port,
    ...(opts.tls ? { tlsUrl: `rediss://${userinfo}127.0.0.1:${tlsPort}` } : {}),
    pid: () => child?.pid,
    log: () => output,
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      if (stopped) throw new Error("redis-server was stopped");
      await kill();
      // The old socket may linger for a moment after exit; retry the bind briefly.
      const deadline = Date.now() + 5000;
      for (;;) {
        try {
          await launch(port);
          return;
        } catch (err) {
          await kill();
          if (Date.now() > deadline) throw new Error(`redis-server did not restart on ${port}: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
}

async function waitPing(port: number, password: string | undefined, timeoutMs: number, died: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (died()) throw new Error("redis-server exited");
    // Checked again after the PONG: another server on a reused port must not pass for ours.
    if ((await ping(port, password)) && !died()) return;
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new Error(`no PONG on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** One inline PING over RESP (after AUTH with a password); true on +PONG. */
function ping(port: number, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let reply = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    sock.once("connect", () => sock.write(password ? `AUTH ${password}\r\nPING\r\n` : "PING\r\n"));
    const last = password ? 1 : 0;
    sock.on("data", (d) => {
      reply += d.toString();
      const lines = reply.split("\r\n");
      if (lines.length > last + 1) done(lines[last]!.startsWith("+PONG"));
    });
    sock.once("error", () => done(false));
  });
}

export interface RunningRedisCluster {
  /** The masters' loopback addresses, for `new Cluster(nodes)`. */
  nodes: { host: string; port: number }[];
  /** Each master's `redis://` URL (with the password), and its `rediss://` one when started with `tls`. */
  urls: string[];
  tlsUrls?: string[];
  stop(): Promise<void>;
}

/**
 * Starts a real Redis Cluster of `masters` redis-servers (cluster mode, no replicas) on loopback
 * and resolves once every slot is served. Used to show that scripts keep to one hash slot:
 * a key outside it lands on another master and the script fails.
 *
 * @example
 * const cluster = await startRedisCluster();
 * const client = new Cluster(cluster.nodes);
 */
export async function startRedisCluster(masters = 3, opts: Pick<StartRedisOptions, "password" | "tls"> = {}): Promise<RunningRedisCluster> {
  const servers: RunningRedis[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) {
      // A relative cluster-config-file lands in the server's own --dir, removed on stop.
      // With TLS the cluster bus speaks it too, and clients on TLS are told the masters' TLS ports.
      const args = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"];
      servers.push(await startRedis({ ...opts, args: opts.tls ? [...args, "--tls-cluster", "yes"] : args }));
    }
    const auth = opts.password ? ["-a", opts.password, "--no-auth-warning"] : [];
    const addrs = servers.map((s) => `127.0.0.1:${opts.tls ? new URL(s.tlsUrl!).port : s.port}`);
    const tls = opts.tls ? ["--tls", "--cacert", opts.tls.cert] : [];
    const create = spawnSync("redis-cli", [...tls, ...auth, "--cluster", "create", ...addrs, "--cluster-replicas", "0", "--cluster-yes"], {
      encoding: "utf8",
      timeout: 20_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const states = servers.map(
        (s) => spawnSync("redis-cli", ["-p", String(s.port), ...auth, "cluster", "info"], { encoding: "utf8", timeout: 2000 }).stdout ?? "",
      );
      if (states.every((info) => info.includes("cluster_state:ok"))) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not become ready:\n${states.join("\n")}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return {
      nodes: servers.map((s) => ({ host: "127.0.0.1", port: s.port })),
      urls: servers.map((s) => s.url),
      ...(opts.tls ? { tlsUrls: servers.map((s) => s.tlsUrl!) } : {}),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
