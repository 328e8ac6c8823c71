/**
 * How big a bots fleet's workers must be for a run: pure, so `vchat bots --fleet` can size a
 * fleet (and refuse an impossible one) before loading Pulumi. Figures and their sources: docs/fleet.md.
 */
import { ConfigError } from "./config.ts";

/** What the bots send: synthetic media on the bots' own RTP path, or VP8 on werift's pipeline. */
export const fleetMedia = ["synthetic", "vp8"] as const;
export type FleetMedia = (typeof fleetMedia)[number];

/**
 * Cores one relayed call (two bots) costs. synthetic: bench/bots-density, 100 relayed calls on a
 * quiet machine (0.0113 cores/call, 35 µs/packet), its first round: the bench reads 0.0052-0.0078
 * there since, and the first figure stays as the margin for Fargate's vCPUs (hyperthreads, not
 * measured). vp8 stays on werift's own pipeline, which the same bench measures at 2-3x that: the
 * upper end is taken.
 */
export const coresPerCall: Record<FleetMedia, number> = { synthetic: 0.0113, vp8: 0.034 };

/** Fargate vCPU a worker is sized to use at most: a run is invalid above 90 %, and ramps and DTLS handshakes come in bursts. */
export const targetCpuShare = 0.6;

/** Memory: Node and the worker threads, then per call (two werift peers). An estimate, not measured: docs/fleet.md. */
export const baseMemoryMiB = 384;
export const memoryPerCallMiB = 8;

const steps = (from: number, to: number, step: number) => Array.from({ length: (to - from) / step + 1 }, (_, i) => from + i * step);

/** Fargate's task sizes (Linux): vCPU units and the memory each allows, in MiB. */
export const fargateSizes: readonly { cpu: number; memory: readonly number[] }[] = [
  { cpu: 256, memory: [512, 1024, 2048] },
  { cpu: 512, memory: steps(1024, 4096, 1024) },
  { cpu: 1024, memory: steps(2048, 8192, 1024) },
  { cpu: 2048, memory: steps(4096, 16384, 1024) },
  { cpu: 4096, memory: steps(8192, 30720, 1024) },
  { cpu: 8192, memory: steps(16384, 61440, 4096) },
  { cpu: 16384, memory: steps(32768, 122880, 8192) },
];

export interface FleetPlan {
  /** Concurrent calls of the run (`--pairs`). */
  calls: number;
  /** Worker tasks (`--fleet W`). */
  workers: number;
  media: FleetMedia;
}

export interface FleetSize {
  workers: number;
  callsPerWorker: number;
  /** Cores a worker is expected to use. */
  coresPerWorker: number;
  /** Fargate task size: vCPU units (1024 = 1 vCPU) and MiB. */
  cpu: number;
  memory: number;
}

/**
 * The smallest Fargate task that carries a worker's share of the calls at `targetCpuShare`.
 * Throws a `ConfigError` when even the largest is too small: more workers are needed.
 *
 * @example
 * fleetSize({ calls: 1000, workers: 10, media: "synthetic" }) // 100 calls a worker: 2 vCPU, 4 GiB
 */
export function fleetSize(plan: FleetPlan): FleetSize {
  if (!Number.isInteger(plan.workers) || plan.workers < 1) throw new ConfigError(`a fleet needs at least one worker, got ${plan.workers}`);
  if (!Number.isInteger(plan.calls) || plan.calls < 1) throw new ConfigError(`a fleet run needs at least one call, got ${plan.calls}`);
  const callsPerWorker = Math.ceil(plan.calls / plan.workers);
  const coresPerWorker = callsPerWorker * coresPerCall[plan.media];
  const units = (coresPerWorker / targetCpuShare) * 1024;
  const needMiB = baseMemoryMiB + callsPerWorker * memoryPerCallMiB;
  for (const size of fargateSizes) {
    const memory = size.memory.find((m) => m >= needMiB);
    if (size.cpu >= units && memory !== undefined) return { workers: plan.workers, callsPerWorker, coresPerWorker, cpu: size.cpu, memory };
  }
  const largest = fargateSizes[fargateSizes.length - 1]!;
  const perTask = Math.floor(((largest.cpu / 1024) * targetCpuShare) / coresPerCall[plan.media]);
  throw new ConfigError(
    `${callsPerWorker} ${plan.media} calls per worker need ${(units / 1024).toFixed(1)} vCPU, more than Fargate's largest task (${largest.cpu / 1024} vCPU, ~${perTask} calls): use --fleet ${Math.ceil(plan.calls / perTask)} or more`,
  );
}
