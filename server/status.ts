/**
 * What `vchat dev` shows while it runs, read from the nodes' own metrics in this process (the
 * figures `/metrics` serves), never over HTTP.
 */
import type { Service } from "./service.ts";

export interface ServiceStatus {
  /** Socket.IO connections open, every node. */
  usersOnline: number;
  /** Users in the lobby queue (one queue, shared by the nodes). */
  waiting: number;
  callsInProgress: number;
  /** Calls in progress whose peers are both forced through TURN (`relayOnly`). */
  relayedCalls: number;
  /** Matches over the last minute (since the start, the first minute). */
  matchesPerMin: number;
  /** Errors returned to clients since the start, every code. */
  errors: number;
}

const sumOf = async (metric: { get(): Promise<{ values: Array<{ value: number; labels: Record<string, unknown> }> }> }, only?: Record<string, string>) =>
  (await metric.get()).values.filter((v) => Object.entries(only ?? {}).every(([k, want]) => String(v.labels[k]) === want)).reduce((a, v) => a + v.value, 0);

/**
 * Samples the service made of these nodes' services; call `sample()` about once a second (it
 * keeps a minute of match counts for the rate).
 */
export function statusSampler(services: readonly Pick<Service, "metrics">[]): { sample(now?: number): Promise<ServiceStatus> } {
  // Counters start at 0 with their node: the first minute counts from here.
  const matchHistory: Array<{ at: number; total: number }> = [{ at: Date.now(), total: 0 }];
  const sum = async (pick: (m: Service["metrics"]) => Parameters<typeof sumOf>[0], only?: Record<string, string>) =>
    (await Promise.all(services.map((s) => sumOf(pick(s.metrics), only)))).reduce((a, b) => a + b, 0);
  return {
    async sample(now = Date.now()) {
      const matches = await sum((m) => m.matches);
      matchHistory.push({ at: now, total: matches });
      while (matchHistory.length > 1 && matchHistory[1]!.at <= now - 60_000) matchHistory.shift();
      return {
        usersOnline: await sum((m) => m.connectedSockets),
        // The queue gauge asks the matchmaker, which every node shares: one node's answer.
        waiting: services.length ? await sumOf(services[0]!.metrics.queueLength) : 0,
        callsInProgress: await sum((m) => m.callsInProgress),
        relayedCalls: await sum((m) => m.callsInProgress, { relay_only: "true" }),
        matchesPerMin: matches - (matchHistory[0]?.total ?? 0),
        errors: await sum((m) => m.errors),
      };
    },
  };
}
