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
 * RATE_LIMITED); once the socket has been over budget in every second for `abuseSeconds`
 * running it is `abusive` (disconnected). A second within budget ends the run, so a client that
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
  /** When the current run of seconds over budget began, and the last second of it. */
  let overSince = 0;
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
        if (lastOver !== s - 1) overSince = now;
        lastOver = s;
      }
      return now - overSince >= abuseSeconds * 1000 ? "abusive" : "over";
    },
  };
}
