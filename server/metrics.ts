import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The service's Prometheus metrics, on a registry of its own (several services can share a process in tests). */
export function createMetrics(queueLength: () => Promise<number>) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "vchat_" });
  return {
    registry,
    connectedSockets: new Gauge({ name: "vchat_connected_sockets", help: "Socket.IO connections open on this node", registers: [registry] }),
    queueLength: new Gauge({
      name: "vchat_queue_length",
      help: "Users waiting to be matched",
      registers: [registry],
      async collect() {
        this.set(await queueLength().catch(() => 0));
      },
    }),
    callsInProgress: new Gauge({
      name: "vchat_calls_in_progress",
      help: "Calls started and not yet ended, counted by the node that matched or ended them (the sum over nodes is the service's); relay_only: both peers forced through TURN",
      labelNames: ["relay_only"],
      registers: [registry],
    }),
    matches: new Counter({ name: "vchat_matches_total", help: "Calls started by matching", registers: [registry] }),
    matchWait: new Histogram({
      name: "vchat_match_wait_seconds",
      help: "Time from lobby:join to match:found",
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    signalsRelayed: new Counter({ name: "vchat_signals_relayed_total", help: "Signals (SDP, candidates) forwarded", registers: [registry] }),
    errors: new Counter({ name: "vchat_errors_total", help: "Errors returned to clients, by code", labelNames: ["code"], registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
