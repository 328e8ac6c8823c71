import { describe, expect, it } from "vitest";
import { judgeHost, LoopMonitor, overloadPct, stallMs } from "./overload.ts";

describe("LoopMonitor", () => {
  it("measures the real lag of a blocked loop (interval taken out) and the share of time stalled", async () => {
    const m = new LoopMonitor("test").start();
    const keep = setInterval(() => undefined, 1000);
    // Blocked 250 ms in every 1 s for 2 s: ~25 % of the time stalled, lags of ~250 ms.
    for (let i = 0; i < 2; i++) {
      await new Promise((r) => setTimeout(r, 750));
      const until = performance.now() + 250;
      while (performance.now() < until);
    }
    await new Promise((r) => setTimeout(r, 50));
    clearInterval(keep);
    const s = m.stop();
    expect(s.lagMaxMs).toBeGreaterThanOrEqual(240);
    expect(s.stalledMs).toBeGreaterThanOrEqual(480);
    expect(s.stalledPct).toBeGreaterThan(15);
    expect(judgeHost([s]).overloaded).toMatch(/thread test was stalled/);
  });

  it("judges the worst thread: a lag p99 near 20 ms warns, a stalled share over the limit invalidates", () => {
    const t = { thread: "worker 0", samples: 100, lagP50Ms: 0.2, lagP99Ms: 1, lagMaxMs: 3, stalledMs: 0, stalledPct: 0, observedMs: 1000 };
    expect(judgeHost([t])).toEqual({ warning: null, overloaded: null });
    expect(judgeHost([t, { ...t, thread: "main", lagP99Ms: stallMs }]).warning).toMatch(/main 20 ms/);
    expect(judgeHost([t, { ...t, stalledPct: overloadPct }]).overloaded).toMatch(/stalled 5 %/);
    expect(judgeHost([t, { ...t, stalledPct: overloadPct - 0.1 }]).overloaded).toBeNull();
  });
});
