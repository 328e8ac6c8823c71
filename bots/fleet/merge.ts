/**
 * One report from many workers: their legs joined by session id (a call's two bots may sit on
 * different workers), their histograms added up, and the run judged valid or not from what each
 * worker says of itself.
 */
import { Figures } from "../figures.ts";
import { judgeHost, type LoopStats } from "../overload.ts";
import { checkThresholds, hostReport, summarize, type BotsReport, type Thresholds } from "../report.ts";
import type { CallLeg } from "../types.ts";
import type { FleetPlan } from "./plan.ts";

/** A worker whose process used more than this share of its cores was the bottleneck. */
export const maxCpuShare = 0.9;
/** A worker that says nothing (beats come every second) for this long is lost, ms. */
export const lostAfterMs = 4000;
/** A worker that scheduled its bots later than this after the barrier broke the global ramp, ms. */
export const lateAfterMs = 1000;

/** What the coordinator knows of one worker by the end. */
export interface WorkerState {
  name: string;
  host: string;
  cores: number;
  pid: number;
  shard: number;
  state: "running" | "done" | "lost" | "failed";
  /** Seconds into the run when it was found lost (no word from it for `lostAfterMs`). */
  lostAtS: number | null;
  failure: string | null;
  /** The last figures it sent (beats, then its final ones). */
  threads: LoopStats[];
  cpuPct: number | null;
  hostCpuPct: number | null;
  startLagMs: number | null;
  errors: { count: number; sample: string[] };
}

/** The report's `workers` block: one entry per worker. */
export interface WorkerReport {
  name: string;
  host: string;
  cores: number;
  shard: number;
  bots: number;
  state: "done" | "lost" | "failed" | "running";
  /** Legs its bots measured, and the calls they belong to. */
  legs: number;
  calls: number;
  /** Its process (all threads), percent of one core, over the run. */
  cpuPct: number | null;
  /** Its whole machine, percent of all cores, over the run. */
  hostCpuPct: number | null;
  loopLagP99Ms: number | null;
  stalledPct: number;
  startLagMs: number | null;
  /** What made the run invalid on this worker, or null. */
  problem: string | null;
}

export interface FleetReport extends BotsReport {
  workers: WorkerReport[];
  /** Every reason the run is invalid (`invalidReason` joins them). */
  invalidReasons: string[];
}

export function workerProblems(w: WorkerState, allowOverload: boolean): string[] {
  const out: string[] = [];
  if (w.state === "lost") out.push(`worker ${w.name} vanished: found lost ${w.lostAtS ?? "?"} s into the run, after ${lostAfterMs / 1000} s without a word`);
  if (w.state === "running") out.push(`worker ${w.name} did not finish${w.failure ? `: ${w.failure}` : ""}`);
  if (w.state === "failed") out.push(`worker ${w.name} failed: ${w.failure}`);
  if (w.startLagMs !== null && w.startLagMs > lateAfterMs) out.push(`worker ${w.name} started ${w.startLagMs} ms after the barrier (limit ${lateAfterMs} ms)`);
  if (!allowOverload) {
    const { overloaded } = judgeHost(w.threads);
    if (overloaded) out.push(`worker ${w.name} overloaded: ${overloaded}`);
    if (w.cpuPct !== null && w.cpuPct > maxCpuShare * 100 * w.cores)
      out.push(`worker ${w.name} overloaded: its process used ${w.cpuPct} % CPU, over ${maxCpuShare * 100} % of its ${w.cores} cores`);
  }
  return out;
}

export function mergeFleet(input: {
  plan: FleetPlan;
  workers: WorkerState[];
  legs: CallLeg[];
  figures: Figures;
  elapsedS: number;
  coordinatorCpuPct: number;
  thresholds?: Thresholds;
  allowOverload?: boolean;
}): FleetReport {
  const { plan, legs } = input;
  const matched = new Set(legs.map((l) => l.bot));
  const { summary, calls } = summarize(legs, {
    bots: plan.bots,
    unmatchedBots: Math.max(0, plan.bots - matched.size),
    durationS: input.elapsedS,
    expectedCalls: plan.calls,
    figures: input.figures,
  });
  const reasons: string[] = [];
  const workers = input.workers.map((w): WorkerReport => {
    const own = legs.filter((l) => l.worker === w.name);
    const problems = workerProblems(w, input.allowOverload === true);
    reasons.push(...problems);
    const lag = w.threads.map((t) => t.lagP99Ms ?? 0);
    return {
      name: w.name,
      host: w.host,
      cores: w.cores,
      shard: w.shard,
      bots: plan.shards[w.shard]?.bots.length ?? 0,
      state: w.state,
      legs: own.length,
      calls: new Set(own.map((l) => l.sessionId)).size,
      cpuPct: w.cpuPct,
      hostCpuPct: w.hostCpuPct,
      loopLagP99Ms: lag.length ? Math.max(...lag) : null,
      stalledPct: Math.max(0, ...w.threads.map((t) => t.stalledPct)),
      startLagMs: w.startLagMs,
      problem: problems.length ? problems.join("; ") : null,
    };
  });
  if (summary.sessions < plan.calls) reasons.push(`fewer calls ran than planned: ${summary.sessions} of ${plan.calls}`);
  const thresholds = checkThresholds(summary, input.thresholds ?? {});
  const threads = input.workers.flatMap((w) => w.threads.map((t) => ({ ...t, thread: `${w.name}/${t.thread}` })));
  const invalidReason = reasons.length ? `invalid run: ${reasons.join("; ")}` : null;
  return {
    summary,
    thresholds,
    valid: invalidReason === null,
    invalidReason,
    invalidReasons: reasons,
    pass: invalidReason === null && thresholds.every((t) => t.ok),
    calls,
    host: hostReport(threads, input.coordinatorCpuPct, input.workers.length),
    workers,
    errors: {
      count: input.workers.reduce((n, w) => n + w.errors.count, 0),
      sample: input.workers.flatMap((w) => w.errors.sample.map((e) => `${w.name}: ${e}`)).slice(0, 10),
    },
  };
}
