/**
 * Is the bot host keeping up? One event-loop-delay histogram per thread for the whole run.
 *
 * A probe timer asks to run every `intervalMs`; how late it runs is the real lag (the interval
 * itself taken out, unlike `monitorEventLoopDelay`, whose values include its resolution). A lag
 * of `stallMs` or more is a stall: the thread could not send or read media for that long, and
 * the stalled time adds up. A thread stalled for `overloadPct` of a run (or of a call) shaped
 * that run's (or call's) figures, not the network.
 */
import { now } from "./clock.ts";
import { DelayHistogram } from "./metrics.ts";

/** Lag at which a thread counts as stalled: a sender 20 ms late has skipped an audio frame. */
export const stallMs = 20;
/**
 * Share of time stalled past which the figures describe the host: invalid run, flagged leg.
 * 5 % is 50 ms a second without sending or reading media. Measured here: an idle thread on a
 * host at load 15 (2 cores) is stalled ~1.3 %; a thread blocked 250 ms a second ~23 %.
 */
export const overloadPct = 5;

/** One thread's whole-run figures (plain data: crosses threads). */
export interface LoopStats {
  thread: string;
  /** Probe samples taken. */
  samples: number;
  lagP50Ms: number | null;
  lagP99Ms: number | null;
  lagMaxMs: number;
  /** Time lost to lags of `stallMs` or more, and its share of the time observed. */
  stalledMs: number;
  stalledPct: number;
  observedMs: number;
}

export class LoopMonitor {
  readonly thread: string;
  private readonly intervalMs: number;
  private readonly hist = new DelayHistogram();
  private timer: NodeJS.Timeout | null = null;
  private last = 0;
  private startedAt = 0;
  private lagMax = 0;
  /** Total stalled time so far: a leg reads it at its start and end. */
  stalledMs = 0;

  constructor(thread: string, intervalMs = 10) {
    this.thread = thread;
    this.intervalMs = intervalMs;
  }

  start(): this {
    if (this.timer) return this;
    this.startedAt = this.last = now();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  private sample(): void {
    const t = now();
    const lag = Math.max(0, t - this.last - this.intervalMs);
    this.last = t;
    this.hist.add(lag);
    if (lag > this.lagMax) this.lagMax = lag;
    if (lag >= stallMs) this.stalledMs += lag;
  }

  stop(): LoopStats {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.stats();
  }

  stats(): LoopStats {
    const observedMs = this.startedAt ? now() - this.startedAt : 0;
    const r = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10);
    return {
      thread: this.thread,
      samples: this.hist.count,
      lagP50Ms: r(this.hist.percentile(50)),
      lagP99Ms: r(this.hist.percentile(99)),
      lagMaxMs: r(this.lagMax)!,
      stalledMs: Math.round(this.stalledMs),
      stalledPct: observedMs > 0 ? Math.round((10000 * this.stalledMs) / observedMs) / 100 : 0,
      observedMs: Math.round(observedMs),
    };
  }
}

/** The host's verdict over every thread's figures. */
export interface HostVerdict {
  /** Some thread lagged `stallMs` or more at p99: figures may be touched. */
  warning: string | null;
  /** Some thread was stalled `overloadPct` of the run or more: the run is invalid. */
  overloaded: string | null;
}

export function judgeHost(threads: readonly LoopStats[]): HostVerdict {
  const worst = [...threads].sort((a, b) => b.stalledPct - a.stalledPct)[0];
  const lagging = threads.filter((t) => (t.lagP99Ms ?? 0) >= stallMs);
  const overloaded =
    worst && worst.stalledPct >= overloadPct
      ? `thread ${worst.thread} was stalled ${worst.stalledPct} % of the run (lags of ${stallMs} ms or more, max ${worst.lagMaxMs} ms): the bot host, not the network, shaped the figures`
      : null;
  const warning = lagging.length
    ? `event-loop lag p99 of ${lagging.map((t) => `${t.thread} ${t.lagP99Ms} ms`).join(", ")} (≥ ${stallMs} ms): senders ran late`
    : null;
  return { warning, overloaded };
}

/** This thread's own CPU time, ms (`process.threadCpuUsage`, Node ≥ 23.9); null on an older Node. */
export function threadCpuMs(): number | null {
  if (typeof process.threadCpuUsage !== "function") return null;
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
}
