/**
 * A run over many workers, planned once by the coordinator: every worker gets the same options
 * (ramp, churn, impairment, media: each worker puts its own impairment proxy in front of TURN)
 * and a shard of the bots. Bot i starts at i / ramp seconds after the barrier on worker i mod W,
 * so the ramp is the run's, not each worker's, and partners started back to back sit on
 * different workers: they meet through the service's lobby like any two users.
 */
import { runSize, type BotsOptions, type BotsShard } from "../run.ts";

/** What each worker runs: the plain-data options of `vchat bots` (no callbacks, no thresholds: the coordinator judges). */
export type ShardOptions = Omit<BotsOptions, "onProgress" | "signal" | "thresholds" | "allowOverload" | "workers">;

export interface FleetPlan {
  runId: number;
  workers: number;
  options: ShardOptions;
  shards: Array<Pick<BotsShard, "bots">>;
  bots: number;
  calls: number;
}

export function planFleet(opts: BotsOptions, workers: number, runId: number): FleetPlan {
  const { onProgress: _p, signal: _s, thresholds: _t, allowOverload: _a, workers: _w, ...options } = opts;
  const size = runSize(opts);
  const ramp = opts.rampPerSec ?? 20;
  const shards: FleetPlan["shards"] = Array.from({ length: workers }, () => ({ bots: [] }));
  for (let i = 0; i < size.bots; i++) shards[i % workers]!.bots.push({ index: i, startAtMs: (i * 1000) / ramp });
  return { runId, workers, options: { ...options, runId }, shards, bots: size.bots, calls: size.calls };
}
