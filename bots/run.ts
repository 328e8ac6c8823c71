/**
 * `vchat bots` as a plain async function: probes the server, puts the impairment proxies in
 * front of TURN, spreads the bots over worker threads, collects their calls, and returns the
 * report. The CLI only parses options and renders.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { restClient, RestError } from "../protocol/index.ts";
import { BotError, restFailure } from "./bot.ts";
import { now } from "./clock.ts";
import { rewriteTurnUrls, turnEndpoints, type TurnTransport } from "./ice.ts";
import { startImpairment } from "./impair.ts";
import { tuneHeaps, youngGenerationMb } from "./heap.ts";
import { newRunId, type MediaKind } from "./media.ts";
import { liveProgress, type Progress } from "./live.ts";
import { LoopMonitor, threadCpuMs, type LoopStats } from "./overload.ts";
import { checkThresholds, hostReport, summarize, type BotsReport, type Thresholds } from "./report.ts";
import { runGroup, type GroupHandle } from "./group.ts";
import type { BotConfig, BotCounts, CallLeg, RelayMode, WorkerInit, WorkerMessage } from "./types.ts";

/** The worker beside this module: TypeScript from the sources, JavaScript in the installed package. */
const workerUrl = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url);

// Set-up errors carry a stable code (VALIDATION_FAILED exits 2, others 1), like the bots' own.
export { BotError };
export type { Progress };

export interface BotsOptions {
  url: string;
  /** Bot pairs (2 bots each). Ignored when `peers` is given. @default 10 */
  pairs?: number;
  /** Bot users; 1 gives one bot that waits for any partner (a browser, say). */
  peers?: number;
  durationMs: number;
  /** Bots started per second. @default 20 */
  rampPerSec?: number;
  relay?: RelayMode;
  turnTransport?: TurnTransport;
  interests?: string[];
  churnMs?: number | null;
  /** Per peer, audio + video. @default 300 */
  bitrateKbps?: number;
  media?: MediaKind;
  /** werift's own RTP pipeline instead of the bots' path: only to measure one against the other. @default "bots" */
  rtpPath?: "bots" | "werift";
  /** Open a data channel in each call and ping over it (`rttMs`), which the web client does not. @default false */
  dataChannel?: boolean;
  impairLossPct?: number;
  impairDelayMs?: number;
  /** Percent of relayed media packets with a bit flipped (SRTP authentication then fails). */
  impairCorruptPct?: number;
  /** Percent of relayed media packets sent twice. */
  impairReplayPct?: number;
  /** Over UDP: this long after the first bot's first media packet, drop all of its media (one direction dies). */
  impairCutAfterMs?: number;
  /** A direction silent this long fails its call (`media-stopped`). @default 3000 */
  mediaStoppedMs?: number;
  /** Report an overloaded host's run as valid anyway (exit code from the thresholds only). */
  allowOverload?: boolean;
  thresholds?: Thresholds;
  /** Worker threads; 0 runs the bots in this thread. @default one per core, at most one per `botsPerThread` bots */
  workers?: number;
  connectTimeoutMs?: number;
  /** TURN endpoints replaced before the impairment (`transport/host:port` → `host:port`). */
  turnRewrites?: Record<string, string>;
  /** Shared with bots of another process that call these (whole number, 1..2^32-1). @default a random one */
  runId?: number;
  /** Called about once a second with live figures (`live.ts`). */
  onProgress?: (p: Progress) => void;
  /** Aborting stops the run early; the report covers what was measured so far. */
  signal?: AbortSignal;
}

export async function probe(url: string): Promise<{ iceServers: import("../protocol/index.ts").IceServer[] }> {
  const base = url.replace(/\/+$/, "");
  try {
    const auth = await restClient({ baseUrl: base }).call("guest", { nickname: "bots-probe" });
    return await restClient({ baseUrl: base, token: auth.token }).call("ice", undefined);
  } catch (err) {
    throw new BotError("UNAVAILABLE", `cannot use ${base}: ${err instanceof RestError ? restFailure(err) : (err as Error).message}`);
  }
}

/** The bots of a run: how many, and the calls they should make. */
export function runSize(opts: Pick<BotsOptions, "pairs" | "peers">): { bots: number; calls: number } {
  return {
    bots: opts.peers ?? (opts.pairs ?? 10) * 2,
    calls: opts.peers !== undefined ? Math.max(1, Math.floor(opts.peers / 2)) : (opts.pairs ?? 10),
  };
}

/**
 * How many bots share a worker thread before the next core gets one. A thread that carries more
 * reads more datagrams per wake-up: 100 bots of synthetic media in one thread cost 10 % less CPU
 * per packet than in two (`bench/bots-ab`, 4 rounds side by side, median 0.900), stalled under
 * 3 %, about 0.3 cores at 300 kbps on this 2-core VM. 200 in one would save more, but on a host
 * 1.8x slower (the other machine) one thread would then run past a core. VP8, and
 * synthetic media on werift's own pipeline, cost twice as much a packet: 50.
 */
function botsPerThread(config: Pick<BotConfig, "media" | "rtpPath">): number {
  return config.media === "synthetic" && config.rtpPath === "bots" ? 100 : 50;
}

/** One process's part of a run over many (`bots/fleet/`): its bots (global indices) and the run's start, epoch ms. */
export interface BotsShard {
  bots: Array<{ index: number; startAtMs: number }>;
  t0: number;
}

/** What one process measured, before the report: the legs as they came, and how the host kept up. */
export interface Measurement {
  legs: CallLeg[];
  bots: number;
  expectedCalls: number;
  elapsedS: number;
  /** How late the latest thread began its bots' schedule after the run's start (a shard's barrier), ms. */
  startLagMs: number;
  threads: LoopStats[];
  /** This process (all threads), percent of one core, over the run. */
  cpuPct: number;
  workers: number;
  errors: { count: number; sample: string[] };
}

export async function runBots(opts: BotsOptions): Promise<BotsReport> {
  return botsReport(await measureBots(opts), opts);
}

/** The report of one process's measurement. */
export function botsReport(m: Measurement, opts: Pick<BotsOptions, "thresholds" | "allowOverload">): BotsReport {
  const matchedBots = new Set(m.legs.map((l) => l.bot));
  const { summary, calls } = summarize(m.legs, {
    bots: m.bots,
    unmatchedBots: Math.max(0, m.bots - matchedBots.size),
    durationS: m.elapsedS,
    expectedCalls: m.expectedCalls,
  });
  const thresholds = checkThresholds(summary, opts.thresholds ?? {});
  const host = hostReport(m.threads, m.cpuPct, m.workers);
  const invalidReason = host.overloaded && !opts.allowOverload ? `invalid run: ${host.overloaded} (--allow-overload keeps it)` : null;
  return {
    summary,
    thresholds,
    valid: invalidReason === null,
    invalidReason,
    pass: invalidReason === null && thresholds.every((t) => t.ok),
    calls,
    host,
    errors: m.errors,
  };
}

/**
 * Runs the bots (all of them, or `shard`'s) and collects their legs; `onLeg` sees each leg as
 * it ends, `onCounts` the live counts about once a second.
 */
export async function measureBots(
  opts: BotsOptions & { shard?: BotsShard; onLeg?: (leg: CallLeg) => void; onCounts?: (counts: ReadonlyMap<string, BotCounts>, threads: LoopStats[]) => void },
): Promise<Measurement> {
  const size = runSize(opts);
  const nBots = opts.shard?.bots.length ?? size.bots;
  const expectedCalls = size.calls;
  const relay = opts.relay ?? "auto";
  const impair = {
    lossPct: opts.impairLossPct ?? 0,
    delayMs: opts.impairDelayMs ?? 0,
    corruptPct: opts.impairCorruptPct ?? 0,
    replayPct: opts.impairReplayPct ?? 0,
    cutAfterMs: opts.impairCutAfterMs,
  };
  const impaired = impair.lossPct > 0 || impair.delayMs > 0 || impair.corruptPct > 0 || impair.replayPct > 0 || impair.cutAfterMs !== undefined;
  if (impaired && relay !== "only") throw new BotError("VALIDATION_FAILED", "--impair-* sit in front of TURN: use them with --relay only");

  const { iceServers } = await probe(opts.url);
  const transport = opts.turnTransport ?? "udp";
  if (relay !== "never" && (relay === "only" || transport !== "udp")) {
    const offered = [...new Set(turnEndpoints(iceServers).map((e) => e.transport))];
    if (!offered.includes(transport)) {
      throw new BotError(
        "VALIDATION_FAILED",
        `${opts.url} offers no ${transport} TURN URL (it offers: ${offered.join(", ") || "none"}): choose --turn-transport ${offered[0] ?? "udp"}${offered.length ? "" : " or --relay auto"}`,
      );
    }
  }
  let rewrites = { ...(opts.turnRewrites ?? {}) };
  let impairment: Awaited<ReturnType<typeof startImpairment>> | null = null;
  if (impaired) {
    const endpoints = turnEndpoints(rewriteTurnUrls(iceServers, rewrites)).filter((e) => e.transport === (opts.turnTransport ?? "udp"));
    if (endpoints.length === 0) throw new BotError("VALIDATION_FAILED", `the server offers no ${opts.turnTransport ?? "udp"} TURN URL to impair`);
    impairment = await startImpairment(endpoints, impair);
    // Chain: original → (test rewrite) → proxy.
    const chained: Record<string, string> = {};
    for (const e of turnEndpoints(iceServers)) {
      const key = `${e.transport}/${e.host}:${e.port}`;
      const via = rewrites[key] ?? `${e.host}:${e.port}`;
      chained[key] = impairment.rewrites[`${e.transport}/${via}`] ?? via;
    }
    rewrites = chained;
  }

  const config: BotConfig = {
    url: opts.url,
    relay,
    turnTransport: opts.turnTransport ?? "udp",
    interests: opts.interests ?? [],
    churnMs: opts.churnMs ?? null,
    bitrateKbps: opts.bitrateKbps ?? 300,
    media: opts.media ?? "synthetic",
    rtpPath: opts.rtpPath ?? "bots",
    dataChannel: opts.dataChannel ?? false,
    turnRewrites: rewrites,
    connectTimeoutMs: opts.connectTimeoutMs ?? 20_000,
    nickname: "bot-",
    runId: opts.runId ?? newRunId(),
    // Both directions' last packets are in flight for up to the added delay after the bye.
    drainMs: 500 + 2 * impair.delayMs,
    mediaStoppedMs: opts.mediaStoppedMs ?? 3000,
  };
  const cores = availableParallelism();
  const nWorkers = opts.workers ?? Math.max(1, Math.min(cores, Math.ceil(nBots / botsPerThread(config))));
  const ramp = opts.rampPerSec ?? 20;
  const t0 = opts.shard?.t0 ?? now() + 100;
  const plan: WorkerInit[] = Array.from({ length: Math.max(1, nWorkers) }, (_, w) => ({ worker: w, config, bots: [], t0 }));
  const bots = opts.shard?.bots ?? Array.from({ length: nBots }, (_, i) => ({ index: i, startAtMs: (i * 1000) / ramp }));
  // Spread by index: bots started back to back (most often partners, the earlier one the
  // offerer) run on different threads. Partners on one thread measured the same side by side
  // (`bench/bots-ab`, median 0.992), so this stays.
  bots.forEach((b, i) => plan[i % plan.length]!.bots.push(b));

  const legs: CallLeg[] = [];
  // Each bot thread's last counts, by its name in the live feed.
  const counts = new Map<string, BotCounts>();
  const threadName = (w: number) => (nWorkers === 0 ? "main" : `worker ${w}`);
  const errorsSample: string[] = [];
  const started = now();
  const cpuStart = process.cpuUsage();
  // The main thread runs the impairment proxy (and the bots with `workers: 0`).
  const mainLoop = new LoopMonitor("main").start();
  let lastCpu = process.cpuUsage();
  let lastCpuAt = now();
  let cpuPct = 0;
  const onLeg = (leg: CallLeg) => {
    legs.push(leg);
    opts.onLeg?.(leg);
  };

  tuneHeaps();
  // Threads: real workers, or the group in this thread when asked for none.
  const stops: Array<() => Promise<void>> = [];
  if (nWorkers === 0) {
    const group: GroupHandle = runGroup(plan[0]!, { leg: onLeg });
    const ticker = setInterval(() => counts.set(threadName(0), group.counts()), 1000);
    stops.push(async () => {
      clearInterval(ticker);
      counts.set(threadName(0), await group.stop());
    });
  } else {
    for (const init of plan) {
      const worker = new Worker(workerUrl, { workerData: init, resourceLimits: { maxYoungGenerationSizeMb: youngGenerationMb } });
      let fatal: string | null = null;
      const done = new Promise<void>((resolve) => {
        worker.on("message", (m: WorkerMessage) => {
          if (m.type === "leg") onLeg(m.leg);
          else if (m.type === "counts" || m.type === "done") counts.set(threadName(m.worker), m.counts);
          else if (m.type === "fatal") fatal = m.message;
          if (m.type === "done") resolve();
        });
        worker.on("error", (err) => {
          fatal = err.message;
          resolve();
        });
        worker.on("exit", () => resolve());
      });
      stops.push(async () => {
        worker.postMessage({ type: "stop" });
        const timeout = new Promise<void>((r) => setTimeout(r, 15_000).unref());
        await Promise.race([done, timeout]);
        await worker.terminate();
        if (fatal) errorsSample.push(`worker ${init.worker}: ${fatal}`);
      });
    }
  }

  let lastMainCpu = threadCpuMs();
  const progress = () => {
    const t = now();
    const cpu = process.cpuUsage(lastCpu);
    cpuPct = Math.round(((cpu.user + cpu.system) / 1000 / (t - lastCpuAt)) * 100);
    lastCpu = process.cpuUsage();
    const mainCpu = threadCpuMs();
    const mainCpuPct = mainCpu === null || lastMainCpu === null ? null : Math.round(((mainCpu - lastMainCpu) / (t - lastCpuAt)) * 100);
    lastMainCpu = mainCpu;
    lastCpuAt = t;
    if (opts.onCounts) opts.onCounts(counts, [mainLoop.stats(), ...[...counts.values()].flatMap((w) => (w.loop && nWorkers > 0 ? [w.loop] : []))]);
    opts.onProgress?.(
      liveProgress({
        elapsedS: (t - started) / 1000,
        durationS: opts.durationMs / 1000,
        legs,
        counts,
        cpuPct,
        cores,
        workers: nWorkers,
        // With bots in this thread, their group reports it.
        extraThreads: nWorkers === 0 ? [] : [{ worker: "main", cpuPct: mainCpuPct, loopLagMs: mainLoop.stats().lagP99Ms ?? 0 }],
      }),
    );
  };
  const ticker = setInterval(progress, 1000);

  await new Promise<void>((resolve) => {
    // A shard ends with the run it belongs to, whenever it got going.
    const timer = setTimeout(resolve, opts.shard ? Math.max(0, opts.shard.t0 + opts.durationMs - now()) : opts.durationMs);
    opts.signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
  // The host is judged over the measured run: tearing down (structured clones of every leg,
  // thread exits) stalls this thread once the figures are taken.
  const mainStats = mainLoop.stop();
  await Promise.all(stops.map((s) => s()));
  clearInterval(ticker);
  progress();
  const threads: LoopStats[] = [mainStats];
  // With `workers: 0` the group's monitor watched this same thread.
  if (nWorkers > 0) for (const w of counts.values()) if (w.loop) threads.push(w.loop);
  await impairment?.close();

  const final = [...counts.values()];
  const errorCount = final.reduce((a, c) => a + c.errors, 0);
  const lastError = final.findLast((c) => c.lastError !== null)?.lastError;
  const elapsedS = (now() - started) / 1000;
  const cpuAll = process.cpuUsage(cpuStart);
  if (lastError) errorsSample.push(lastError);
  return {
    legs,
    bots: nBots,
    expectedCalls,
    elapsedS,
    startLagMs: Math.max(0, ...final.map((c) => c.startLagMs)),
    threads,
    cpuPct: Math.round(((cpuAll.user + cpuAll.system) / 1000 / (elapsedS * 1000)) * 100),
    workers: nWorkers,
    errors: { count: errorCount, sample: errorsSample.slice(0, 10) },
  };
}
