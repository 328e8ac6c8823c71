/**
 * `vchat bots --workers W --coordinator REDIS_URL`: plans the run, waits for W workers to
 * register, starts them all at one barrier time, follows them (a worker silent for
 * `lostAfterMs` is lost), and merges what they send into one report.
 */
import { availableParallelism } from "node:os";
import { BotError } from "../bot.ts";
import { now } from "../clock.ts";
import { Figures } from "../figures.ts";
import { newRunId } from "../media.ts";
import { liveProgress } from "../live.ts";
import { probe, type BotsOptions } from "../run.ts";
import type { BotCounts, CallLeg } from "../types.ts";
import { lostAfterMs, mergeFleet, type FleetReport, type WorkerState } from "./merge.ts";
import { planFleet } from "./plan.ts";
import { blockingConnection, openRunKey, readUp, runKeys, send, type RedisClient, type Up } from "./wire.ts";

export interface FleetOptions extends Omit<BotsOptions, "workers"> {
  /** Worker processes to wait for. */
  workers: number;
  redis: RedisClient;
  /** Called once the plan is in Redis and workers may join (`--local` starts its workers here). */
  onPlanned?: (runId: number) => void | Promise<void>;
  /** How long to wait for every worker to register. @default 60000 */
  registerTimeoutMs?: number;
  /** Time from the start message to the barrier, for every worker to read it and get going. @default 3000 */
  barrierMs?: number;
}

/** After the run's end, how long workers get to drain their calls and report. */
const finishGraceMs = 30_000;

export async function runFleet(o: FleetOptions): Promise<FleetReport> {
  if (o.workers < 1) throw new BotError("VALIDATION_FAILED", "a run over workers needs at least one worker");
  await probe(o.url);
  const runId = o.runId ?? newRunId();
  const plan = planFleet({ ...o, workers: undefined }, o.workers, runId);
  const keys = runKeys(runId);
  const registerTimeoutMs = o.registerTimeoutMs ?? 60_000;
  const barrierMs = o.barrierMs ?? 3000;
  const ttlS = Math.ceil((registerTimeoutMs + barrierMs + o.durationMs + finishGraceMs) / 1000) + 600;
  // The streams exist (with their expiry) before any worker writes: a worker's XADD keeps the TTL.
  await o.redis
    .multi()
    .set(keys.plan, JSON.stringify(plan), "EX", ttlS)
    .xadd(keys.ctl, "*", "m", "{}")
    .xadd(keys.up, "*", "m", "{}")
    .expire(keys.ctl, ttlS)
    .expire(keys.up, ttlS)
    .set(openRunKey, String(runId), "EX", Math.ceil(registerTimeoutMs / 1000) + 5)
    .exec();
  const closeRun = async () => {
    // Only our own announcement goes: another run may have opened since.
    if ((await o.redis.get(openRunKey)) === String(runId)) await o.redis.del(openRunKey);
    await Promise.all([keys.plan, keys.ctl, keys.up].map((k) => o.redis.expire(k, 60)));
  };
  const reader = await blockingConnection(o.redis);
  try {
    await o.onPlanned?.(runId);

    // Registration: the first W distinct workers of this run.
    const workers = new Map<string, WorkerState>();
    let lastId = "0";
    const registerBy = now() + registerTimeoutMs;
    while (workers.size < o.workers && now() < registerBy && !o.signal?.aborted) {
      const read = await readUp(reader, keys.up, lastId, 500);
      lastId = read.lastId;
      for (const m of read.messages) {
        if (m.type !== "register" || m.run !== runId || workers.has(m.worker) || workers.size >= o.workers) continue;
        workers.set(m.worker, {
          name: m.worker,
          host: m.host,
          cores: m.cores,
          pid: m.pid,
          shard: workers.size,
          state: "running",
          lostAtS: null,
          failure: null,
          threads: [],
          cpuPct: null,
          hostCpuPct: null,
          startLagMs: null,
          errors: { count: 0, sample: [] },
        });
      }
    }
    if (workers.size < o.workers) {
      await send(o.redis, keys.ctl, { type: "stop", reason: "not every worker came" });
      const came = [...workers.keys()];
      if (o.signal?.aborted) throw new BotError("INTERRUPTED", `interrupted while waiting for workers (${came.length} of ${o.workers} had registered)`);
      throw new BotError(
        "WORKERS_MISSING",
        `only ${came.length} of ${o.workers} workers registered within ${Math.round(registerTimeoutMs / 1000)} s${came.length ? ` (${came.join(", ")})` : ""}: start them with vchat bots worker --coordinator <redis url> --run ${runId}`,
      );
    }
    if ((await o.redis.get(openRunKey)) === String(runId)) await o.redis.del(openRunKey);

    // The barrier: every worker schedules its bots from t0 on, so the ramp is the run's.
    const t0 = now() + barrierMs;
    await send(o.redis, keys.ctl, { type: "start", t0, assign: Object.fromEntries([...workers.values()].map((w) => [w.name, w.shard])) });
    const started = now();
    const cpuStart = process.cpuUsage();
    const legs: CallLeg[] = [];
    const figures = new Figures();
    const live = new Map<string, BotCounts>();
    const lastSeen = new Map([...workers.keys()].map((n) => [n, now()]));
    let stopSent = false;
    let endBy = t0 + o.durationMs + finishGraceMs;
    const stopAll = async (reason: string) => {
      if (stopSent) return;
      stopSent = true;
      // Stopped early, workers get the same grace to end their calls and report, from now.
      endBy = Math.min(endBy, now() + finishGraceMs);
      await send(o.redis, keys.ctl, { type: "stop", reason });
    };
    const onMessage = (m: Up) => {
      const w = workers.get(m.worker);
      if (!w || m.run !== runId) return;
      lastSeen.set(w.name, now());
      if (m.type === "beat") {
        for (const [thread, c] of Object.entries(m.counts)) {
          live.set(`${w.name}/${thread}`, c);
          w.startLagMs = Math.max(w.startLagMs ?? 0, c.startLagMs);
        }
        w.threads = m.threads;
        w.cpuPct = m.cpuPct;
        w.hostCpuPct = m.hostCpuPct;
      } else if (m.type === "legs") {
        for (const leg of m.legs) legs.push({ ...leg, worker: w.name });
        figures.merge(Figures.decode(m.figures));
      } else if (m.type === "done") {
        Object.assign(w, {
          state: "done",
          threads: m.threads,
          cpuPct: m.cpuPct,
          hostCpuPct: m.hostCpuPct,
          startLagMs: Math.max(w.startLagMs ?? 0, m.startLagMs),
          errors: m.errors,
        });
      } else if (m.type === "fatal") {
        Object.assign(w, { state: "failed", failure: `${m.code}: ${m.message}` });
      }
    };

    let lastCpu = process.cpuUsage();
    let lastCpuAt = now();
    const progress = () => {
      const t = now();
      const cpu = process.cpuUsage(lastCpu);
      const cpuPct = Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, t - lastCpuAt)) * 100);
      lastCpu = process.cpuUsage();
      lastCpuAt = t;
      o.onProgress?.(
        liveProgress({
          elapsedS: Math.max(0, (t - t0) / 1000),
          durationS: o.durationMs / 1000,
          legs,
          counts: live,
          cpuPct,
          cores: availableParallelism(),
          workers: o.workers,
        }),
      );
    };
    let lastProgress = 0;
    for (;;) {
      const running = [...workers.values()].filter((w) => w.state === "running");
      if (!running.length) break;
      if (o.signal?.aborted) await stopAll("interrupted");
      if (now() > endBy) {
        for (const w of running) w.failure = `did not report within ${finishGraceMs / 1000} s of the run's end`;
        break;
      }
      const read = await readUp(reader, keys.up, lastId, 250);
      lastId = read.lastId;
      read.messages.forEach(onMessage);
      const t = now();
      for (const w of running) {
        if (w.state === "running" && t - lastSeen.get(w.name)! > lostAfterMs) {
          w.state = "lost";
          w.lostAtS = Math.round((t - t0) / 100) / 10;
          for (const key of live.keys()) if (key.startsWith(`${w.name}/`)) live.delete(key);
        }
      }
      if (t - lastProgress >= 1000) {
        lastProgress = t;
        progress();
      }
    }
    progress();
    const cpuAll = process.cpuUsage(cpuStart);
    const elapsedS = (now() - started) / 1000;
    return mergeFleet({
      plan,
      workers: [...workers.values()],
      legs,
      figures,
      elapsedS: Math.max(0, (now() - t0) / 1000),
      coordinatorCpuPct: Math.round(((cpuAll.user + cpuAll.system) / 1000 / (elapsedS * 1000)) * 100),
      thresholds: o.thresholds,
      allowOverload: o.allowOverload,
    });
  } finally {
    reader.disconnect();
    await closeRun().catch(() => undefined);
  }
}
