import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

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
}

/**
 * Runs the users of a benchmark in `procs` processes of `clients.ts`: all connect first, then
 * the clock starts at one moment for all of them. Resolves to matches/s and relay latency.
 */
export async function runClients(run: ClientRun): Promise<{ matchesPerSecond: number; signals: number; p50: number; p99: number }> {
  const clients = Array.from({ length: run.procs }, (_, i) =>
    spawn(
      process.execPath,
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
    const results = (await Promise.all(next.map((line) => line()))).map((l) => JSON.parse(l) as { matches: number; latencies: number[] });
    const matches = results.reduce((n, r) => n + r.matches, 0);
    const sorted = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
    return { matchesPerSecond: matches / run.seconds, signals: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  } finally {
    await Promise.all(clients.map(stop));
  }
}
