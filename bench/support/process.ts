import type { ChildProcess } from "node:child_process";
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
