import { describe, expect, it } from "vitest";
import { eventBudget } from "./budget.ts";

const take = (budget: ReturnType<typeof eventBudget>, n: number, at: number) => Array.from({ length: n }, () => budget.take(at));

describe("eventBudget", () => {
  it("allows perSecond events in each second and refuses the rest", () => {
    const budget = eventBudget({ perSecond: 5, abuseSeconds: 3 }, 0);
    expect(take(budget, 7, 100)).toEqual(["ok", "ok", "ok", "ok", "ok", "over", "over"]);
    expect(take(budget, 5, 1100)).toEqual(Array(5).fill("ok"));
  });

  it("is abusive once over budget in every second for abuseSeconds running", () => {
    const budget = eventBudget({ perSecond: 2, abuseSeconds: 3 }, 0);
    expect(take(budget, 3, 500).at(-1)).toBe("over");
    expect(take(budget, 3, 1500).at(-1)).toBe("over");
    expect(take(budget, 3, 2500).at(-1)).toBe("over");
    expect(take(budget, 3, 3400).at(-1)).toBe("over");
    expect(budget.take(3500)).toBe("abusive");
  });

  it("a second within budget, or without events, ends the run", () => {
    const budget = eventBudget({ perSecond: 2, abuseSeconds: 2 }, 0);
    expect(take(budget, 3, 0).at(-1)).toBe("over");
    expect(take(budget, 2, 1000).at(-1)).toBe("ok");
    expect(take(budget, 3, 2000).at(-1)).toBe("over");
    expect(take(budget, 3, 4000).at(-1)).toBe("over");
    expect(take(budget, 3, 5000).at(-1)).toBe("over");
    expect(take(budget, 3, 6000).at(-1)).toBe("abusive");
  });
});
