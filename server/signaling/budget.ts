/** What one more event does to a socket's budget. */
export type BudgetVerdict = "ok" | "over" | "abusive";

export interface EventBudgetOptions {
  /** Events allowed in each second. */
  perSecond: number;
  /** Seconds running over budget after which the socket is abusive. */
  abuseSeconds: number;
}

/**
 * One socket's event budget: `perSecond` events in each second of its life, every event counted
 * (unknown names and malformed payloads too). An event past the budget is `over` (refused with
 * RATE_LIMITED); once the socket has gone over in `abuseSeconds` seconds running it is
 * `abusive` (disconnected). A second within budget starts the count again, so a client that
 * bursts now and then is only slowed down.
 *
 * In process and without timers: a socket lives on one node, and its budget goes with it.
 *
 * @example
 * const budget = eventBudget({ perSecond: 100, abuseSeconds: 3 });
 * if (budget.take() !== "ok") refuse();
 */
export function eventBudget({ perSecond, abuseSeconds }: EventBudgetOptions, start = Date.now()) {
  let second = 0;
  let used = 0;
  /** Seconds running, up to the current one, in which the budget was exceeded. */
  let overRun = 0;
  let lastOver = -Infinity;
  return {
    take(now = Date.now()): BudgetVerdict {
      const s = Math.floor((now - start) / 1000);
      if (s !== second) {
        second = s;
        used = 0;
      }
      used++;
      if (used <= perSecond) return "ok";
      if (used === perSecond + 1) {
        overRun = lastOver === s - 1 ? overRun + 1 : 1;
        lastOver = s;
      }
      return overRun >= abuseSeconds ? "abusive" : "over";
    },
  };
}
