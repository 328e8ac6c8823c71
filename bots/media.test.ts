import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { now } from "./clock.ts";
import { Pacer, type Paced } from "./media.ts";

/** A paced item that records its ticks and is next due `everyMs` after each. */
function item(dueAt: number, everyMs = Infinity): Paced & { ticks: number[] } {
  const it = {
    dueAt,
    ticks: [] as number[],
    tick(t: number) {
      it.ticks.push(t);
      it.dueAt = t + everyMs;
    },
  };
  return it;
}

describe("the shared pacer", () => {
  it("ticks an item only once it is due, and never one that is not started", async () => {
    const pacer = new Pacer();
    const laterAt = now() + 300;
    const later = item(laterAt);
    const idle = item(Infinity);
    const every50 = item(now(), 50);
    for (const i of [later, idle, every50]) pacer.add(i);
    await sleep(150);
    expect(later.ticks).toEqual([]);
    // 10 ms ticks over 150 ms, but one tick every 50 ms at most for an item due every 50 ms.
    expect(every50.ticks.length).toBeGreaterThanOrEqual(1);
    expect(every50.ticks.length).toBeLessThanOrEqual(4);
    for (let w = 0; w < 100 && later.ticks.length === 0; w++) await sleep(20);
    expect(later.ticks.length).toBe(1);
    expect(later.ticks[0]).toBeGreaterThanOrEqual(laterAt);
    expect(idle.ticks).toEqual([]);
    for (const i of [later, idle, every50]) pacer.delete(i);
  });
});
