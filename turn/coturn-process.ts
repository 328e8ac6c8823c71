import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { coturnConfig, type CoturnOptions } from "./coturn-config.ts";
import { freePort } from "../lib/ports.ts";
import { diesWithParent } from "../lib/processes.ts";
import { message, methods } from "./stun.ts";
import { StunSocket } from "./transport.ts";
import { formatTurnUrl } from "./urls.ts";

/** Whether Debian's `turnserver` (coturn) is on PATH. */
export function coturnInstalled(): boolean {
  return spawnSync("sh", ["-c", "command -v turnserver"], { stdio: "ignore" }).status === 0;
}

export interface RunningCoturn {
  host: string;
  port: number;
  tlsPort?: number;
  secret: string;
  realm: string;
  /** `turn:` URLs for the transports this instance listens on. */
  urls: string[];
  config: string;
  process: ChildProcess;
  /** Everything coturn printed so far (its log goes to stdout). */
  log(): string;
  stop(): Promise<void>;
}

export type StartCoturnOptions = Partial<CoturnOptions> & {
  /** Loopback address to bind. @default "127.0.0.1" */
  host?: string;
  /** The address in the `turn:` URLs when clients reach it at another one (a LAN or public address). @default host */
  advertise?: string;
  /** Milliseconds to wait for the listener to answer. @default 5000 */
  readyTimeoutMs?: number;
  /**
   * The folder for its configuration (with the secret, mode 600), user db and pid file, created
   * and removed at stop. A coturn that a killed owner left running there is killed first.
   * @default a fresh folder under the system's temp folder
   */
  dir?: string;
};

/**
 * Starts a real coturn on loopback with the generated configuration, on a free port and a relay
 * range of its own, and resolves once it answers a STUN binding request.
 *
 * @example
 * const turn = await startCoturn({ mode: "local" });
 * try { ... turn.urls ... } finally { await turn.stop(); }
 */
export async function startCoturn(opts: StartCoturnOptions = {}): Promise<RunningCoturn> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.listeningPort ?? (await freePort(host));
  const tlsPort = opts.tls ? (opts.tlsListeningPort ?? (await freePort(host))) : undefined;
  const secret = opts.secret ?? randomBytes(24).toString("hex");
  const realm = opts.realm ?? "vchat.local";
  // A relay window of our own below Linux's ephemeral range (32768+), so parallel instances
  // and leftover allocations of crashed runs rarely collide.
  const minPort = opts.minPort ?? 10000 + Math.floor(Math.random() * 20) * 1000;
  const maxPort = opts.maxPort ?? minPort + 999;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "vchat-coturn-"));
  if (opts.dir) takeOver(opts.dir);
  const config = coturnConfig({
    ...opts,
    secret,
    realm,
    listeningIps: opts.listeningIps ?? [host],
    relayIps: opts.relayIps ?? [host],
    listeningPort: port,
    tlsListeningPort: tlsPort,
    minPort,
    maxPort,
    userdbFile: join(dir, "turndb"),
    pidFile: join(dir, "turnserver.pid"),
    logFile: "stdout",
  });
  const configFile = join(dir, "turnserver.conf");
  writeFileSync(configFile, config, { mode: 0o600 });

  // coturn dies with this process even on `kill -9`; without setpriv, the owner file below lets
  // the next start find and kill it.
  const child = spawn(...diesWithParent("turnserver", ["-c", configFile]), { stdio: ["ignore", "pipe", "pipe"] });
  writeFileSync(join(dir, ownerFile), JSON.stringify({ owner: process.pid, coturn: child.pid }) + "\n", { mode: 0o600 });
  let output = "";
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 1_000_000) output = output.slice(-500_000);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // An exit without stop() (a second Ctrl-C, a SIGTERM repeated by the kernel's parent-death
  // signal): coturn would die with this process anyway, but its folder, which holds the secret,
  // would stay behind.
  const atExit = () => {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", atExit);

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
    process.off("exit", atExit);
  };

  try {
    await waitReady(host, port, !opts.noUdp, opts.readyTimeoutMs ?? 5000, () => child.exitCode !== null);
  } catch (err) {
    await stop();
    throw new Error(`coturn did not start: ${(err as Error).message}\n${output.slice(-2000)}`, { cause: err });
  }

  const urls: string[] = [];
  const advertised = opts.advertise ?? host;
  if (!opts.noUdp) urls.push(formatTurnUrl(advertised, port, "udp"));
  if (!opts.noTcp) urls.push(formatTurnUrl(advertised, port, "tcp"));
  if (tlsPort) urls.push(formatTurnUrl(advertised, tlsPort, "tls"));
  return { host, port, tlsPort, secret, realm, urls, config, process: child, log: () => output, stop };
}

const ownerFile = "owner.json";

/**
 * Makes `dir` ours: refuses it while another live process runs a coturn there; kills a coturn
 * whose owner died (`kill -9`), and clears what it left (its configuration holds the secret).
 */
function takeOver(dir: string): void {
  const file = join(dir, ownerFile);
  if (existsSync(file)) {
    let left: { owner?: number; coturn?: number } = {};
    try {
      left = JSON.parse(readFileSync(file, "utf8")) as typeof left;
    } catch {
      // Cut short by a crash while it was written: nothing to go by.
    }
    const { owner, coturn } = left;
    if (coturn && isTurnserver(coturn)) {
      if (parentOf(coturn) === owner) throw new Error(`another vchat (pid ${owner}) runs a coturn in ${dir}`);
      process.kill(coturn, "SIGKILL");
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
}

function isTurnserver(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("turnserver");
  } catch {
    return false;
  }
}

function parentOf(pid: number): number | null {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ...", comm may hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

async function waitReady(host: string, port: number, udp: boolean, timeoutMs: number, died: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (died()) throw new Error("turnserver exited");
    if (await answers(host, port, udp)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no answer on ${host}:${port} within ${timeoutMs} ms`);
}

/**
 * One STUN Binding request (RFC 8489 §5) through our STUN client, over UDP, or over TCP when
 * UDP is off: true once coturn answers.
 */
async function answers(host: string, port: number, udp: boolean): Promise<boolean> {
  let sock: StunSocket | undefined;
  try {
    sock = await StunSocket.open(udp ? "udp" : "tcp", { host, port, timeoutMs: 200 });
    await sock.request(message(methods.binding, "request"), { timeoutMs: 200 });
    return true;
  } catch {
    return false;
  } finally {
    sock?.close();
  }
}
