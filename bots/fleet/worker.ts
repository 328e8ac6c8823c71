/**
 * `vchat bots worker`: joins a run over Redis, runs its shard of the bots from the barrier on,
 * and streams what they measure (legs, mergeable histograms, beats) to the coordinator.
 */
import { cpus, hostname } from "node:os";
import { BotError } from "../bot.ts";
import { now } from "../clock.ts";
import { Figures } from "../figures.ts";
import { measureBots } from "../run.ts";
import type { BotCounts, CallLeg } from "../types.ts";
import type { LoopStats } from "../overload.ts";
import { blockingConnection, openRunKey, readControl, readPlan, runKeys, send, type Beat, type RedisClient, type UpBody } from "./wire.ts";

export interface FleetWorkerOptions {
  redis: RedisClient;
  /** Shown in the report; unique within a run. @default host-pid */
  name?: string;
  /** The run to join; without it, the run open on this Redis (waiting `waitMs` for one). */
  runId?: number;
  /** @default 60000 */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface FleetWorkerResult {
  runId: number;
  name: string;
  bots: number;
  legs: number;
  /** `run-end`, or `stopped` (the coordinator or a signal stopped it early). */
  end: "run-end" | "stopped";
}

/** Legs and their histograms go out in batches this often, ms. */
const flushMs = 500;

/** Busy share of the whole machine since the last call, percent of all cores. */
function hostCpuMeter(): () => number {
  const snap = () =>
    cpus().reduce((a, c) => ({ idle: a.idle + c.times.idle, all: a.all + Object.values(c.times).reduce((x, y) => x + y, 0) }), { idle: 0, all: 0 });
  let last = snap();
  return () => {
    const cur = snap();
    const all = cur.all - last.all;
    const pct = all > 0 ? Math.round((100 * (all - (cur.idle - last.idle))) / all) : 0;
    last = cur;
    return pct;
  };
}

/** This process's CPU (every thread) since the last call, percent of one core. */
function processCpuMeter(): () => number {
  let last = process.cpuUsage();
  let at = now();
  return () => {
    const d = process.cpuUsage(last);
    const t = now();
    const pct = t > at ? Math.round(((d.user + d.system) / 1000 / (t - at)) * 100) : 0;
    last = process.cpuUsage();
    at = t;
    return pct;
  };
}

async function openRun(redis: RedisClient, waitMs: number, signal?: AbortSignal): Promise<number> {
  const deadline = now() + waitMs;
  for (;;) {
    const id = Number(await redis.get(openRunKey));
    if (Number.isInteger(id) && id > 0) return id;
    if (now() > deadline || signal?.aborted) throw new BotError("NO_RUN", `no run took workers on this Redis within ${Math.round(waitMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function runFleetWorker(o: FleetWorkerOptions): Promise<FleetWorkerResult> {
  const name = o.name ?? `${hostname()}-${process.pid}`;
  const runId = o.runId ?? (await openRun(o.redis, o.waitMs ?? 60_000, o.signal));
  const plan = await readPlan(o.redis, runId);
  if (!plan) throw new BotError("RUN_NOT_FOUND", `no run ${runId} on this Redis: it ended, expired, or never began`);
  const keys = runKeys(runId);
  const up = (m: UpBody) => send(o.redis, keys.up, { ...m, run: runId, worker: name });
  const reader = await blockingConnection(o.redis);
  try {
    await up({ type: "register", host: hostname(), cores: cpus().length, pid: process.pid });
    // Wait for the barrier: the coordinator starts the run once every worker came.
    let lastId = "0";
    let start: { t0: number; shard: number } | null = null;
    while (!start) {
      if (o.signal?.aborted) return { runId, name, bots: 0, legs: 0, end: "stopped" };
      const read = await readControl(reader, keys.ctl, lastId, 1000);
      lastId = read.lastId;
      for (const m of read.messages) {
        if (m.type === "stop") return { runId, name, bots: 0, legs: 0, end: "stopped" };
        const shard = m.assign[name];
        if (shard === undefined) throw new BotError("NOT_IN_RUN", `run ${runId} started without worker ${name} (it had its ${plan.workers} workers)`);
        start = { t0: m.t0, shard };
      }
    }

    const stop = new AbortController();
    o.signal?.addEventListener("abort", () => stop.abort(), { once: true });
    // The coordinator's stop (Ctrl-C there) ends the run here too.
    const listening = (async () => {
      while (!stop.signal.aborted) {
        const read = await readControl(reader, keys.ctl, lastId, 1000).catch(() => ({ lastId, messages: [] }));
        lastId = read.lastId;
        if (read.messages.some((m) => m.type === "stop")) stop.abort();
      }
    })();

    let pending: CallLeg[] = [];
    let sent = 0;
    const flush = async () => {
      if (!pending.length) return;
      const batch = pending;
      pending = [];
      sent += batch.length;
      const figures = batch.reduce((f, l) => f.addLeg(l), new Figures()).encode();
      // The packet-delay histograms travel merged in `figures`.
      await up({ type: "legs", legs: batch.map(({ delayHistogram: _, ...l }) => l), figures });
    };
    let live: Pick<Beat, "counts" | "threads"> = { counts: {}, threads: [] };
    const hostCpu = hostCpuMeter();
    const processCpu = processCpuMeter();
    const runHostCpu = hostCpuMeter();
    const beats = setInterval(() => {
      void up({ type: "beat", ...live, cpuPct: processCpu(), hostCpuPct: hostCpu() }).catch(() => undefined);
      void flush().catch(() => undefined);
    }, flushMs * 2);
    const flusher = setInterval(() => void flush().catch(() => undefined), flushMs);
    try {
      const m = await measureBots({
        ...plan.options,
        // The bots run in this process's own thread: a thread started at the barrier took seconds
        // to load on a busy host (measured: 6-7 s late at load 15 on 2 cores), which broke the
        // global ramp. A bigger machine runs more workers (one per core).
        workers: 0,
        shard: { bots: plan.shards[start.shard]!.bots, t0: start.t0 },
        signal: stop.signal,
        onLeg: (leg) => pending.push(leg),
        // The threads' loop figures travel once, in `threads`.
        onCounts: (counts: ReadonlyMap<string, BotCounts>, threads: LoopStats[]) =>
          (live = { counts: Object.fromEntries([...counts].map(([name, c]) => [name, { ...c, loop: undefined }])), threads }),
      });
      clearInterval(beats);
      clearInterval(flusher);
      await flush();
      await up({
        type: "done",
        threads: m.threads,
        cpuPct: m.cpuPct,
        hostCpuPct: runHostCpu(),
        startLagMs: m.startLagMs,
        bots: m.bots,
        errors: m.errors,
      });
      return { runId, name, bots: m.bots, legs: sent, end: stop.signal.aborted ? "stopped" : "run-end" };
    } catch (err) {
      const e = err as Error & { code?: string };
      await up({ type: "fatal", code: e.code ?? "FAILED", message: e.message }).catch(() => undefined);
      throw err;
    } finally {
      clearInterval(beats);
      clearInterval(flusher);
      stop.abort();
      await listening;
    }
  } finally {
    reader.disconnect();
  }
}
