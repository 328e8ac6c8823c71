/**
 * The live feed of `vchat bots`: once a second, the threads' counts and the legs finished so
 * far become one `Progress`, counted as the final report counts (calls, not bots; a call's cause,
 * not what its bots were told afterwards). The dashboard, the progress lines and the HTML
 * report's charts all read it.
 */
import { groupCalls, isUnfinished } from "./report.ts";
import type { BotCounts, CallLeg } from "./types.ts";

/** One thread's load over the last second. `worker` names it: "main", "worker 0", or a fleet's own name. */
export interface ThreadSample {
  worker: string;
  /** Percent of one core; null where Node cannot tell a thread's own CPU. */
  cpuPct: number | null;
  /** Event-loop lag p99 over the run so far, ms. */
  loopLagMs: number;
}

export interface Progress {
  elapsedS: number;
  durationS: number;
  /** Bots by state now. */
  bots: { total: number; starting: number; waiting: number; connecting: number; up: number };
  /**
   * Calls as the final report counts them: `up` now, `connected` so far (up now, or ended
   * after connecting), `failed` so far (never connected, or media stopped).
   */
  calls: { up: number; connected: number; failed: number };
  /** Calls connected so far per second of the run. */
  connectedPerS: number;
  /** Media packets the receivers expected and lost so far, every call. */
  packets: { expected: number; lost: number };
  /** Live loss over every call so far, percent. */
  lossPct: number | null;
  /** match → first media, per leg, over calls connected so far (up now or ended): what the report's setup is. */
  setupP50Ms: number | null;
  setupP95Ms: number | null;
  /** The last second's media of the calls up: payload kbps per leg, mean audio jitter, mean one-way delay, freezes. */
  media: { kbpsPerLeg: number | null; jitterMs: number | null; delayMs: number | null; freezes: number };
  errors: number;
  /** The cause of the last failed call (a TURN 401 names its URL), else the last error a bot saw. */
  lastError: string | null;
  /** CPU of this whole process (all threads) over the last second, percent of one core. */
  cpuPct: number;
  cores: number;
  /** Worst event-loop p99 lag among the threads, ms. */
  loopLagMs: number;
  workers: number;
  threads: ThreadSample[];
}

/** Nearest-rank percentile, rounded to the ms. */
function pct(sorted: number[], p: number): number | null {
  if (!sorted.length) return null;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!);
}

const downstream = (failure: string) => failure.startsWith("call ended before");

export function liveProgress(input: {
  elapsedS: number;
  durationS: number;
  legs: readonly CallLeg[];
  /** Each thread's last counts, by its name. */
  counts: ReadonlyMap<string, BotCounts>;
  cpuPct: number;
  cores: number;
  workers: number;
  /** Threads that run no bots but load the host (the runner's own). */
  extraThreads?: ThreadSample[];
}): Progress {
  const counts = [...input.counts.values()];
  const sum = (f: (c: BotCounts) => number) => counts.reduce((a, c) => a + f(c), 0);
  const calls = groupCalls(input.legs).filter((c) => !isUnfinished(c));
  const ended = new Set(calls.map((c) => c.sessionId));
  // Partners on two threads both list their call: a set counts it once.
  const up = new Set(counts.flatMap((c) => c.upSessions).filter((s) => !ended.has(s)));
  const connected = up.size + calls.filter((c) => c.connected && c.failure === null).length;
  const setups = [...input.legs.map((l) => l.firstMediaMs).filter((x): x is number => x !== null), ...counts.flatMap((c) => c.liveSetupsMs)].sort(
    (a, b) => a - b,
  );
  const lastCause = input.legs.findLast((l) => l.failure !== null && !downstream(l.failure))?.failure ?? null;
  const m = counts.map((c) => c.media);
  const msum = (f: (w: BotCounts["media"]) => number) => m.reduce((a, w) => a + f(w), 0);
  const legs = msum((w) => w.legs);
  const windowMs = m.length ? Math.max(...m.map((w) => w.windowMs)) : 0;
  const jitterLegs = msum((w) => w.jitterLegs);
  const delayPackets = msum((w) => w.delayPackets);
  const expected = sum((c) => c.expected);
  const threads = [...(input.extraThreads ?? []), ...[...input.counts].map(([worker, c]) => ({ worker, cpuPct: c.cpuPct, loopLagMs: c.loopLagMs }))];
  const round1 = (x: number) => Math.round(x * 10) / 10;
  return {
    elapsedS: round1(input.elapsedS),
    durationS: input.durationS,
    bots: {
      total: sum((c) => c.bots),
      starting: sum((c) => c.starting),
      waiting: sum((c) => c.waiting),
      connecting: sum((c) => c.connecting),
      up: sum((c) => c.up),
    },
    calls: { up: up.size, connected, failed: calls.length - calls.filter((c) => c.connected && c.failure === null).length },
    connectedPerS: input.elapsedS > 0 ? Math.round((100 * connected) / input.elapsedS) / 100 : 0,
    packets: { expected, lost: sum((c) => c.lost) },
    lossPct: expected ? Math.round((10000 * sum((c) => c.lost)) / expected) / 100 : null,
    setupP50Ms: pct(setups, 50),
    setupP95Ms: pct(setups, 95),
    media: {
      kbpsPerLeg: legs && windowMs ? round1((msum((w) => w.bytes) * 8) / windowMs / legs) : null,
      jitterMs: jitterLegs ? round1(msum((w) => w.jitterSumMs) / jitterLegs) : null,
      delayMs: delayPackets ? round1(msum((w) => w.delaySumMs) / delayPackets) : null,
      freezes: msum((w) => w.freezes),
    },
    errors: sum((c) => c.errors),
    lastError: lastCause ?? counts.findLast((c) => c.lastError !== null)?.lastError ?? null,
    cpuPct: input.cpuPct,
    cores: input.cores,
    loopLagMs: Math.max(0, ...threads.map((t) => t.loopLagMs)),
    workers: input.workers,
    threads,
  };
}
