import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline";
import { diesWithParent } from "../../lib/processes.ts";

/**
 * `node <args>` as a child of this bench that gets SIGTERM when the bench dies, however it dies
 * (Ctrl-C to the bench alone, `timeout`, `kill -9`): no `vchat dev`, node or coturn outlives it.
 */
export function spawnNode(args: string[], options: SpawnOptions): ChildProcess {
  return spawn(...diesWithParent(process.execPath, args, "TERM"), options);
}

/** The lines a child prints on stdout, one at a time. */
export function lines(child: ChildProcess, what: string): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let failed: Error | null = null;
  const fails: ((err: Error) => void)[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => (waiting.length ? waiting.shift()!(line) : queue.push(line)));
  child.once("exit", (code) => {
    failed = new Error(`${what} exited ${code}`);
    fails.splice(0).forEach((f) => f(failed!));
  });
  return () =>
    queue.length
      ? Promise.resolve(queue.shift()!)
      : new Promise((resolve, reject) => {
          if (failed) return reject(failed);
          waiting.push(resolve);
          fails.push(reject);
        });
}

/** SIGTERM, then SIGKILL after 10 s. */
export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** p-th percentile of a sorted list. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ) on Linux. */
const TICK = 100;

/** A process's parent, command name and CPU seconds (user + system) so far, from /proc; null when gone or no /proc. */
function procStat(pid: number | string): { ppid: number; comm: string; cpu: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: the fields start after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(rest[1]), comm: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), cpu: (Number(rest[11]) + Number(rest[12])) / TICK };
  } catch {
    return null;
  }
}

/** Every process of the machine, by pid. */
function allProcs(): Map<number, { ppid: number; comm: string; cpu: number }> {
  const procs = new Map<number, { ppid: number; comm: string; cpu: number }>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(name);
    if (s) procs.set(Number(name), s);
  }
  return procs;
}

/** CPU seconds a process has used so far; null where there is no /proc (then no CPU figures are printed). */
export function cpuSeconds(pid: number | undefined): number | null {
  return pid === undefined ? null : (procStat(pid)?.cpu ?? null);
}

/** CPU seconds of a process and all its descendants. */
export function treeCpuSeconds(root: number): number {
  const procs = allProcs();
  let total = 0;
  const walk = (pid: number) => {
    total += procs.get(pid)?.cpu ?? 0;
    for (const [child, p] of procs) if (p.ppid === pid) walk(child);
  };
  walk(root);
  return total;
}

/** The children of `parent` whose command name starts with `comm`. */
export function childPids(parent: number, comm: string): number[] {
  return [...allProcs()].filter(([, p]) => p.ppid === parent && p.comm.startsWith(comm)).map(([pid]) => pid);
}

/** Where the CPU of a benchmark's matching phase went, per match, and what that allows here. */
export interface CpuPerMatch {
  /** CPU milliseconds per match of each measured process group (servers, redis, clients). */
  msPerMatch: Record<string, number>;
  /** The cores of this machine. */
  cores: number;
  /**
   * Matches/s this machine could carry if every process but the clients cost nothing: the
   * ceiling the clients alone put on any target measured with them here.
   */
  clientCeiling: number;
  /** Matches/s at which every measured process together would fill the machine. */
  machineCeiling: number;
}

export interface ClientRun {
  /** Node URLs; client process i talks to `urls[i % urls.length]`. */
  urls: string[];
  users: number;
  procs: number;
  seconds: number;
  relaySeconds: number;
  relayIntervalMs: number;
  /** Extra flags for clients.ts (`--exchange`, `--no-auth`). */
  flags?: string[];
  /** Node flags for the client processes (CPU profiles). */
  execArgv?: string[];
  /** Other processes whose CPU time over the matching phase is reported, by group name. */
  measure?: Record<string, (number | undefined)[]>;
}

/**
 * Runs the users of a benchmark in `procs` processes of `clients.ts`: all connect first, then
 * the clock starts at one moment for all of them. Resolves to matches/s and relay latency.
 */
export async function runClients(run: ClientRun): Promise<{ matchesPerSecond: number; signals: number; p50: number; p99: number; cpu: CpuPerMatch | null }> {
  const clients = Array.from({ length: run.procs }, (_, i) =>
    spawnNode(
      [
        ...(run.execArgv ?? []),
        new URL("./clients.ts", import.meta.url).pathname,
        ...["--url", run.urls[i % run.urls.length]!],
        ...["--users", String(Math.floor(run.users / run.procs) + (i < run.users % run.procs ? 1 : 0))],
        ...["--seconds", String(run.seconds), "--relay-seconds", String(run.relaySeconds), "--relay-interval", String(run.relayIntervalMs)],
        ...(run.flags ?? []),
      ],
      { stdio: ["pipe", "pipe", "inherit"] },
    ),
  );
  try {
    const next = clients.map((c, i) => lines(c, `client ${i}`));
    await Promise.all(next.map((line) => line()));
    const startAt = Date.now() + 500;
    for (const c of clients) c.stdin!.write(`${startAt}\n`);
    // CPU time of every process over exactly the matching phase.
    const groups: Record<string, (number | undefined)[]> = { ...run.measure, clients: clients.map((c) => c.pid) };
    const sample = () => Object.entries(groups).map(([name, pids]) => [name, pids.map(cpuSeconds)] as const);
    const at = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
    const cpu = (async () => {
      await at(startAt);
      const before = sample();
      await at(startAt + run.seconds * 1000);
      return { before, after: sample() };
    })();
    const results = (await Promise.all(next.map((line) => line()))).map((l) => JSON.parse(l) as { matches: number; latencies: number[] });
    const matches = results.reduce((n, r) => n + r.matches, 0);
    const sorted = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
    return {
      matchesPerSecond: matches / run.seconds,
      signals: sorted.length,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      cpu: cpuPerMatch(await cpu, matches),
    };
  } finally {
    await Promise.all(clients.map(stop));
  }
}

function cpuPerMatch(
  { before, after }: { before: (readonly [string, (number | null)[]])[]; after: (readonly [string, (number | null)[]])[] },
  matches: number,
): CpuPerMatch | null {
  const msPerMatch: Record<string, number> = {};
  for (const [i, [name, start]] of before.entries()) {
    const end = after[i]![1];
    if (matches === 0 || start.some((s) => s === null) || end.some((e) => e === null)) return null;
    const seconds = end.reduce<number>((sum, e, j) => sum + e! - start[j]!, 0);
    msPerMatch[name] = (seconds * 1000) / matches;
  }
  const cores = availableParallelism();
  const total = Object.values(msPerMatch).reduce((a, b) => a + b, 0);
  return { msPerMatch, cores, clientCeiling: (cores * 1000) / msPerMatch.clients!, machineCeiling: (cores * 1000) / total };
}

/** One line: CPU ms per match of each group, and the ceilings they put on this machine. */
export function formatCpu(label: string, cpu: CpuPerMatch | null): string {
  if (!cpu) return `${label}: no CPU figures (no /proc here)`;
  const parts = Object.entries(cpu.msPerMatch).map(([name, ms]) => `${name} ${ms.toFixed(2)}`);
  return (
    `${label}: CPU ms per match: ${parts.join(", ")}; all together fill ${cpu.cores} cores at ${cpu.machineCeiling.toFixed(0)} matches/s, ` +
    `the clients alone at ${cpu.clientCeiling.toFixed(0)}`
  );
}
