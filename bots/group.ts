/**
 * The bots of one thread: starts them on their ramp schedule, shares one pacer, reports counts
 * and finished calls, and stops them on request. Runs inside a worker thread (`worker.ts`) or,
 * with `workers: 0`, in the caller's thread.
 */
import { Bot } from "./bot.ts";
import { now } from "./clock.ts";
import { Pacer, type VideoFrames } from "./media.ts";
import { LoopMonitor, threadCpuMs } from "./overload.ts";
import type { BotCounts, CallLeg, MediaWindow, WorkerInit } from "./types.ts";
import { loadVp8Clip } from "./vp8.ts";

export interface GroupHandle {
  counts(): BotCounts;
  /** Ends every call (legs are reported) and disconnects. */
  stop(): Promise<BotCounts>;
}

export function runGroup(init: WorkerInit, out: { leg(leg: CallLeg): void }): GroupHandle {
  const startLagMs = Math.max(0, Math.round(now() - init.t0));
  const pacer = new Pacer();
  const loop = new LoopMonitor(`worker ${init.worker}`).start();
  let vp8: (() => VideoFrames) | undefined;
  if (init.config.media === "vp8") {
    const clip = loadVp8Clip();
    vp8 = () => clip.player();
  }
  const bots: Bot[] = [];
  const timers: NodeJS.Timeout[] = [];
  let errors = 0;
  let lastError: string | null = null;
  let finishedLost = 0;
  let finishedExpected = 0;
  const onError = (err: Error) => {
    errors++;
    lastError = err.message.slice(0, 300);
  };
  for (const { index, startAtMs } of init.bots) {
    const bot = new Bot(init.config, index, {
      pacer,
      loop,
      vp8Frames: vp8,
      onLeg: (leg) => {
        finishedLost += leg.packetsLost;
        finishedExpected += leg.packetsExpected;
        out.leg(leg);
      },
      onError,
    });
    bots.push(bot);
    const delay = Math.max(0, init.t0 + startAtMs - now());
    timers.push(
      setTimeout(() => {
        bot.start().catch((err: Error) => {
          onError(err);
          bot.state = "stopped";
        });
      }, delay),
    );
  }

  // The window of the live media figures and of the thread's CPU: from one `counts()` to the next.
  let windowAt = now();
  let cpuAt = threadCpuMs();
  const counts = (): BotCounts => {
    const t = now();
    const cpu = threadCpuMs();
    const windowMs = Math.max(1, t - windowAt);
    const cpuPct = cpu === null || cpuAt === null ? null : Math.round(((cpu - cpuAt) / windowMs) * 100);
    windowAt = t;
    cpuAt = cpu;
    const media: MediaWindow = { windowMs, legs: 0, bytes: 0, jitterSumMs: 0, jitterLegs: 0, delaySumMs: 0, delayPackets: 0, freezes: 0 };
    const c: BotCounts = {
      bots: bots.length,
      starting: 0,
      waiting: 0,
      connecting: 0,
      up: 0,
      lost: finishedLost,
      expected: finishedExpected,
      loopLagMs: 0,
      startLagMs,
      errors,
      lastError,
      upSessions: [],
      liveSetupsMs: [],
      media,
      cpuPct,
    };
    for (const b of bots) {
      const call = b.liveCall();
      if (call) {
        c.upSessions.push(call.sessionId);
        if (call.setupMs !== null) c.liveSetupsMs.push(call.setupMs);
        media.legs++;
        for (const w of [call.audio, call.video]) {
          media.bytes += w.bytes;
          media.delaySumMs += w.delaySumMs;
          media.delayPackets += w.delayPackets;
          media.freezes += w.freezes;
        }
        if (call.audio.jitterMs !== null) {
          media.jitterSumMs += call.audio.jitterMs;
          media.jitterLegs++;
        }
      }
      if (b.state === "starting") c.starting++;
      else if (b.state === "waiting") c.waiting++;
      else if (b.state === "connecting") c.connecting++;
      else if (b.state === "up") c.up++;
      const live = b.liveLoss();
      c.lost += live.lost;
      c.expected += live.expected;
    }
    c.loop = loop.stats();
    c.loopLagMs = c.loop.lagP99Ms ?? 0;
    return c;
  };

  return {
    counts,
    async stop() {
      // Judged over the measured run, not the teardown of every call at once.
      const loopStats = loop.stop();
      for (const t of timers) clearTimeout(t);
      await Promise.all(bots.map((b) => b.stop().catch(onError)));
      const c = counts();
      c.loop = loopStats;
      return c;
    },
  };
}
