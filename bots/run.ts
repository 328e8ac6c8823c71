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
import { newRunId, type MediaKind } from "./media.ts";
import { LoopMonitor, type LoopStats } from "./overload.ts";
import { checkThresholds, hostReport, summarize, type BotsReport, type Thresholds } from "./report.ts";
import { runGroup, type GroupHandle } from "./group.ts";
import type { BotConfig, BotCounts, CallLeg, RelayMode, WorkerInit, WorkerMessage } from "./types.ts";

/** The worker beside this module: TypeScript from the sources, JavaScript in the installed package. */
const workerUrl = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url);

// Set-up errors carry a stable code (VALIDATION_FAILED exits 2, others 1), like the bots' own.
export { BotError };

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
  /** Worker threads; 0 runs the bots in this thread. @default one per core, at most one per 50 bots */
  workers?: number;
  connectTimeoutMs?: number;
  /** TURN endpoints replaced before the impairment (`transport/host:port` → `host:port`). */
  turnRewrites?: Record<string, string>;
  /** Shared with bots of another process that call these (whole number, 1..2^32-1). @default a random one */
  runId?: number;
  /** Called about once a second with live figures. */
  onProgress?: (p: Progress) => void;
  /** Aborting stops the run early; the report covers what was measured so far. */
  signal?: AbortSignal;
}

export interface Progress {
  elapsedS: number;
  durationS: number;
  counts: BotCounts;
  /** Live loss over every call so far, percent. */
  lossPct: number | null;
  setupP50Ms: number | null;
  setupP95Ms: number | null;
  /** CPU of this whole process (all threads), percent of one core. */
  cpuPct: number;
  cores: number;
  /** Worst event-loop p99 lag among the threads, ms. */
  loopLagMs: number;
  workers: number;
}

async function probe(url: string): Promise<{ iceServers: import("../protocol/index.ts").IceServer[] }> {
  const base = url.replace(/\/+$/, "");
  try {
    const auth = await restClient({ baseUrl: base }).call("guest", { nickname: "bots-probe" });
    return await restClient({ baseUrl: base, token: auth.token }).call("ice", undefined);
  } catch (err) {
    throw new BotError("UNAVAILABLE", `cannot use ${base}: ${err instanceof RestError ? restFailure(err) : (err as Error).message}`);
  }
}

function pct(values: number[], p: number): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!);
}

export async function runBots(opts: BotsOptions): Promise<BotsReport> {
  const nBots = opts.peers ?? (opts.pairs ?? 10) * 2;
  const expectedCalls = opts.peers !== undefined ? Math.max(1, Math.floor(opts.peers / 2)) : (opts.pairs ?? 10);
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
    turnRewrites: rewrites,
    connectTimeoutMs: opts.connectTimeoutMs ?? 20_000,
    nickname: "bot-",
    runId: opts.runId ?? newRunId(),
    // Both directions' last packets are in flight for up to the added delay after the bye.
    drainMs: 500 + 2 * impair.delayMs,
    mediaStoppedMs: opts.mediaStoppedMs ?? 3000,
  };
  const cores = availableParallelism();
  const nWorkers = opts.workers ?? Math.max(1, Math.min(cores, Math.ceil(nBots / 50)));
  const ramp = opts.rampPerSec ?? 20;
  const t0 = now() + 100;
  const plan: WorkerInit[] = Array.from({ length: Math.max(1, nWorkers) }, (_, w) => ({ worker: w, config, bots: [], t0 }));
  for (let i = 0; i < nBots; i++) {
    // Partners are started back to back on different threads, so each thread holds both roles.
    plan[i % plan.length]!.bots.push({ index: i, startAtMs: (i * 1000) / ramp });
  }

  const legs: CallLeg[] = [];
  const counts = new Map<number, BotCounts>();
  const errorsSample: string[] = [];
  const started = now();
  const cpuStart = process.cpuUsage();
  // The main thread runs the impairment proxy (and the bots with `workers: 0`).
  const mainLoop = new LoopMonitor("main").start();
  let lastCpu = process.cpuUsage();
  let lastCpuAt = now();
  let cpuPct = 0;
  const onLeg = (leg: CallLeg) => legs.push(leg);

  // Threads: real workers, or the group in this thread when asked for none.
  const stops: Array<() => Promise<void>> = [];
  if (nWorkers === 0) {
    const group: GroupHandle = runGroup(plan[0]!, { leg: onLeg });
    const ticker = setInterval(() => counts.set(0, group.counts()), 1000);
    stops.push(async () => {
      clearInterval(ticker);
      counts.set(0, await group.stop());
    });
  } else {
    for (const init of plan) {
      const worker = new Worker(workerUrl, { workerData: init });
      let fatal: string | null = null;
      const done = new Promise<void>((resolve) => {
        worker.on("message", (m: WorkerMessage) => {
          if (m.type === "leg") onLeg(m.leg);
          else if (m.type === "counts" || m.type === "done") counts.set(m.worker, m.counts);
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

  const aggregate = (): BotCounts => {
    const c: BotCounts = {
      bots: 0,
      starting: 0,
      waiting: 0,
      connecting: 0,
      up: 0,
      callsDone: 0,
      callsFailed: 0,
      lost: 0,
      expected: 0,
      loopLagMs: 0,
      errors: 0,
      lastError: null,
    };
    for (const w of counts.values()) {
      for (const k of ["bots", "starting", "waiting", "connecting", "up", "callsDone", "callsFailed", "lost", "expected", "errors"] as const) c[k] += w[k];
      c.loopLagMs = Math.max(c.loopLagMs, w.loopLagMs);
      c.lastError = w.lastError ?? c.lastError;
    }
    return c;
  };

  const progress = () => {
    const t = now();
    const cpu = process.cpuUsage(lastCpu);
    cpuPct = Math.round(((cpu.user + cpu.system) / 1000 / (t - lastCpuAt)) * 100);
    lastCpu = process.cpuUsage();
    lastCpuAt = t;
    const c = aggregate();
    const setups = legs.map((l) => l.firstMediaMs).filter((x): x is number => x !== null);
    opts.onProgress?.({
      elapsedS: Math.round((t - started) / 100) / 10,
      durationS: opts.durationMs / 1000,
      counts: c,
      lossPct: c.expected ? Math.round((10000 * c.lost) / c.expected) / 100 : null,
      setupP50Ms: pct(setups, 50),
      setupP95Ms: pct(setups, 95),
      cpuPct,
      cores,
      loopLagMs: Math.max(c.loopLagMs, mainLoop.stats().lagP99Ms ?? 0),
      workers: nWorkers,
    });
  };
  const ticker = setInterval(progress, 1000);

  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, opts.durationMs);
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

  const final = aggregate();
  const elapsedS = (now() - started) / 1000;
  const cpuAll = process.cpuUsage(cpuStart);
  const matchedBots = new Set(legs.map((l) => l.bot));
  const { summary, calls } = summarize(legs, {
    bots: nBots,
    unmatchedBots: Math.max(0, nBots - matchedBots.size),
    durationS: elapsedS,
    expectedCalls,
  });
  const thresholds = checkThresholds(summary, opts.thresholds ?? {});
  if (final.lastError) errorsSample.push(final.lastError);
  const host = hostReport(threads, Math.round(((cpuAll.user + cpuAll.system) / 1000 / (elapsedS * 1000)) * 100), nWorkers);
  const invalidReason = host.overloaded && !opts.allowOverload ? `invalid run: ${host.overloaded} (--allow-overload keeps it)` : null;
  return {
    summary,
    thresholds,
    valid: invalidReason === null,
    invalidReason,
    pass: invalidReason === null && thresholds.every((t) => t.ok),
    calls,
    host,
    errors: { count: final.errors, sample: errorsSample.slice(0, 10) },
  };
}
