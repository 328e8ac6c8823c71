import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { BotsOptions, Progress, runBots } from "../../bots/run.ts";
import type { BotsReport } from "../../bots/report.ts";
import { childPids, spawnNode } from "./process.ts";

/**
 * `vchat dev` of this checkout (in-memory store) in a child process, with its local coturn
 * (required) or, with `turn: false`, without TURN (bots call over loopback host candidates).
 */
export async function startDev(opts: { turn?: boolean } = {}): Promise<{ url: string; child: ChildProcess; coturnPid: number | null }> {
  const turn = opts.turn ?? true;
  const cli = new URL("../../cli/vchat.ts", import.meta.url).pathname;
  const args = [cli, "dev", "--port", "0", "--db", ":memory:", "--json", ...(turn ? [] : ["--no-turn"])];
  const child = spawnNode(args, { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`vchat dev exited ${code}`)));
  });
  const ready = JSON.parse(line) as { url: string; turn: string[] };
  if (turn && !ready.turn.length) throw new Error("vchat dev started without coturn: install coturn");
  return { url: ready.url.replace(/\/$/, ""), child, coturnPid: childPids(child.pid!, "turnserver")[0] ?? null };
}

/** What a steady window of a bots run measured: this process's CPU and the RTP packets it sent and received. */
export interface BotsWindow {
  seconds: number;
  /** CPU seconds of this process (every thread) over the window. */
  cpu: number;
  packets: number;
  /** Largest event-loop lag the run reported during the window, ms. */
  lagMs: number;
  /** `sample()` at the window's end minus at its start. */
  extra: number[];
  report: BotsReport;
}

/**
 * Runs the bots (`run`: this checkout's `runBots` or another's) through their ramp (two joins a
 * call at `rampPerSec`) plus 6 s to settle, then `holdS` seconds, and measures the hold (less
 * 1.5 s): every call up by then. `sample` reads other counters
 * (other processes' CPU) at both ends; /proc is read only there, as a scan each second would
 * itself cost CPU in this process and be counted as the bots'.
 */
export async function botsWindow(
  run: typeof runBots,
  opts: Omit<BotsOptions, "durationMs" | "onProgress"> & { pairs: number; rampPerSec: number },
  holdS: number,
  sample: () => number[] = () => [],
): Promise<BotsWindow> {
  type Mark = { t: number; cpu: number; packets: number; extra: number[] };
  const settleS = (opts.pairs * 2) / opts.rampPerSec + 6;
  const started = performance.now();
  const mark = (p: Progress): Mark => {
    const cpu = process.cpuUsage();
    // Sent: every packet a partner expected; received: those not lost.
    return { t: (performance.now() - started) / 1000, cpu: (cpu.user + cpu.system) / 1e6, packets: 2 * p.packets.expected - p.packets.lost, extra: sample() };
  };
  let first: Mark | null = null;
  let last: Mark | null = null;
  let lagMs = 0;
  const report = await run({
    ...opts,
    durationMs: (settleS + holdS) * 1000,
    onProgress: (p: Progress) => {
      const t = (performance.now() - started) / 1000;
      if (!first && t >= settleS) first = mark(p);
      else if (first && !last && t >= settleS + holdS - 1.5) last = mark(p);
      if (first && !last) lagMs = Math.max(lagMs, p.loopLagMs);
    },
  });
  const a = first as Mark | null;
  const b = last as Mark | null;
  if (!a || !b) return { seconds: 0, cpu: 0, packets: 0, lagMs, extra: [], report };
  return { seconds: b.t - a.t, cpu: b.cpu - a.cpu, packets: b.packets - a.packets, lagMs, extra: b.extra.map((x, i) => x - a.extra[i]!), report };
}
