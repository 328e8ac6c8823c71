import { describe, expect, it } from "vitest";
import { Figures, figureNames, significantDigits } from "../figures.ts";
import type { LoopStats } from "../overload.ts";
import { lateAfterMs, mergeFleet, workerProblems, type WorkerState } from "./merge.ts";
import { planFleet } from "./plan.ts";

/** A small deterministic generator (mulberry32): the same samples every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The sample at HdrHistogram's rank for p (the count at p rounded, at least 1), from the sorted union. */
function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length, Math.max(1, Math.floor((p / 100) * sorted.length + 0.5))) - 1]!;
}

describe("merged histograms", () => {
  it("give the percentiles of the union of every worker's samples, within the histogram's precision", () => {
    const rnd = random(17);
    const workers = 4;
    const parts = Array.from({ length: workers }, () => new Figures());
    const union: Record<string, number[]> = {};
    for (const name of figureNames) {
      union[name] = [];
      // Long-tailed, like setup times and delays: most small, a few far out; some exact zeros.
      for (let i = 0; i < 3000; i++) {
        const v = rnd() < 0.02 ? 0 : Math.round(Math.exp(rnd() * 9) * 100) / 100;
        union[name].push(v);
        parts[i % workers]!.add(name, v);
      }
    }
    // Each worker's histograms travel encoded (as over Redis), then add up.
    const merged = parts.map((p) => Figures.decode(p.encode())).reduce((a, b) => a.merge(b), new Figures());
    const tolerance = 10 ** -significantDigits;
    for (const name of figureNames) {
      const sorted = [...union[name]!].sort((a, b) => a - b);
      expect(merged.count(name)).toBe(sorted.length);
      for (const p of [1, 5, 50, 90, 95, 99, 99.9, 100]) {
        const exact = exactPercentile(sorted, p);
        const got = merged.percentile(name, p)!;
        // The value recorded is in thousandths, so 0.001 is the smallest step.
        expect(Math.abs(got - exact), `${name} p${p}: merged ${got}, exact ${exact}`).toBeLessThanOrEqual(exact * tolerance + 0.001);
      }
    }
  });

  it("of parts equal one histogram of everything", () => {
    const rnd = random(5);
    const one = new Figures();
    const parts = [new Figures(), new Figures(), new Figures()];
    for (let i = 0; i < 5000; i++) {
      const v = rnd() * 500;
      one.add("setupMs", v);
      parts[i % 3]!.add("setupMs", v);
    }
    const merged = parts.reduce((a, b) => a.merge(Figures.decode(b.encode())), new Figures());
    expect(merged.dist("setupMs")).toEqual(one.dist("setupMs"));
  });
});

const quiet: LoopStats = { thread: "main", samples: 1000, lagP50Ms: 0.1, lagP99Ms: 2, lagMaxMs: 5, stalledMs: 0, stalledPct: 0, observedMs: 10_000 };
const worker = (over: Partial<WorkerState> = {}): WorkerState => ({
  name: "w1",
  host: "h",
  cores: 2,
  pid: 1,
  shard: 0,
  state: "done",
  lostAtS: null,
  failure: null,
  threads: [quiet],
  cpuPct: 40,
  hostCpuPct: 50,
  startLagMs: 0,
  errors: { count: 0, sample: [] },
  ...over,
});

describe("a run's validity", () => {
  it("names each worker that vanished, failed, started late or was overloaded", () => {
    expect(workerProblems(worker(), false)).toEqual([]);
    expect(workerProblems(worker({ state: "lost", lostAtS: 4.2 }), false)).toEqual([
      "worker w1 vanished: found lost 4.2 s into the run, after 4 s without a word",
    ]);
    expect(workerProblems(worker({ startLagMs: lateAfterMs + 1 }), false)[0]).toMatch(/started 1001 ms after the barrier/);
    expect(workerProblems(worker({ cpuPct: 181 }), false)[0]).toMatch(/used 181 % CPU, over 90 % of its 2 cores/);
    expect(workerProblems(worker({ cpuPct: 179 }), false)).toEqual([]);
    const stalled = { ...quiet, stalledMs: 800, stalledPct: 8, lagMaxMs: 90 };
    expect(workerProblems(worker({ threads: [stalled] }), false)[0]).toMatch(/worker w1 overloaded: thread main was stalled 8 %/);
    // --allow-overload keeps an overloaded worker's run, never a lost one's.
    expect(workerProblems(worker({ threads: [stalled], cpuPct: 190 }), true)).toEqual([]);
    expect(workerProblems(worker({ state: "lost", lostAtS: 1 }), true)).toHaveLength(1);
  });

  it("is invalid when fewer calls ran than planned", () => {
    const plan = planFleet({ url: "http://127.0.0.1:1", pairs: 2, durationMs: 1000 }, 1, 7);
    const r = mergeFleet({ plan, workers: [worker()], legs: [], figures: new Figures(), elapsedS: 1, coordinatorCpuPct: 1 });
    expect(r.valid).toBe(false);
    expect(r.invalidReasons).toEqual(["fewer calls ran than planned: 0 of 2"]);
    expect(r.workers[0]).toMatchObject({ name: "w1", state: "done", bots: 4, legs: 0, calls: 0, problem: null });
  });
});

describe("the plan", () => {
  it("spreads the bots over the workers on one global ramp, partners on different workers", () => {
    const plan = planFleet({ url: "http://127.0.0.1:1", pairs: 3, durationMs: 1000, rampPerSec: 10, churnMs: 5000 }, 2, 9);
    expect(plan.shards.map((s) => s.bots.map((b) => b.index))).toEqual([
      [0, 2, 4],
      [1, 3, 5],
    ]);
    expect(plan.shards[1]!.bots.map((b) => b.startAtMs)).toEqual([100, 300, 500]);
    expect(plan.options).toMatchObject({ churnMs: 5000, runId: 9, pairs: 3 });
    expect(plan).toMatchObject({ bots: 6, calls: 3, workers: 2 });
  });
});
