/**
 * The calibration suite: known impairments injected below the bots (the proxy in front of a
 * real coturn, or a stalled thread), and what `vchat bots` reports must match them within a
 * stated tolerance. The network cases run side by side in two batches, each a pair with its own
 * proxy and a few seconds of media; the stall case runs alone, since it stalls the whole thread.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { lossWindowPp } from "../tests/support/binomial.ts";
import { describeIf } from "../tests/support/skip.ts";
import { coturnInstalled, startCoturn, type RunningCoturn } from "../turn/coturn-process.ts";
import { turnCredentials } from "../turn/credentials.ts";
import type { IceServer } from "../protocol/index.ts";
import { rewriteTurnUrls, turnEndpoints } from "./ice.ts";
import { startImpairment, type Impairment, type ProxyCounters } from "./impair.ts";
import { Pacer } from "./media.ts";
import { LoopMonitor, judgeHost } from "./overload.ts";
import { runPair } from "./pair.ts";
import { loadVp8Clip } from "./vp8.ts";
import type { PeerResult } from "./peer.ts";
import type { CallLeg } from "./types.ts";

const hasCoturn = coturnInstalled();

const mediaMs = 6000;

interface Outcome {
  legs: CallLeg[];
  results: PeerResult[];
  proxy: ProxyCounters | null;
}

describeIf(hasCoturn, "turnserver (coturn) is not installed")("calibration: injected impairments are reported as injected", () => {
  let turn: RunningCoturn;
  const outcomes = new Map<string, Outcome>();

  async function pair(
    name: string,
    imp: Impairment | null,
    opts: { durationMs?: number; mediaStoppedMs?: number; drainMs?: number; vp8?: boolean; pacer: Pacer },
  ): Promise<Outcome> {
    // A TURN user per case: coturn's per-user allocation quota must not fail a case.
    const c = turnCredentials(turn.secret, `calibration-${name.replace(/\W/g, "-")}`, 600);
    const servers: IceServer[] = [{ urls: turn.urls, username: c.username, credential: c.credential }];
    const udp = turnEndpoints(servers).filter((e) => e.transport === "udp");
    const im = imp ? await startImpairment(udp, imp) : null;
    try {
      const r = await runPair({
        iceServers: im ? rewriteTurnUrls(servers, im.rewrites) : servers,
        turnTransport: "udp",
        durationMs: opts.durationMs ?? mediaMs,
        mediaStoppedMs: opts.mediaStoppedMs,
        drainMs: opts.drainMs,
        pacer: opts.pacer,
        ...(opts.vp8 ? { media: "vp8" as const, vp8Frames: () => loadVp8Clip().player() } : {}),
      });
      return { legs: r.legs, results: [r.offerer, r.answerer], proxy: im ? im.proxies[0]!.counters : null };
    } finally {
      await im?.close();
    }
  }

  beforeAll(async () => {
    turn = await startCoturn({ mode: "local" });
    // The network cases side by side, one shared pacer as the bots of one thread share theirs;
    // the delay cases in a lighter batch of their own, so the thread's own lag stays well
    // under their ±10 ms.
    const batches: Array<Array<[string, Impairment | null, { durationMs?: number; drainMs?: number; vp8?: boolean }?]>> = [
      [
        ["loss 1", { lossPct: 1 }],
        ["loss 5", { lossPct: 5 }],
        ["loss 20", { lossPct: 20 }],
        ["corrupt 3", { corruptPct: 3 }],
        ["replay 3", { replayPct: 3 }],
        // VP8 with NACK: werift resends lost video, so loss after NACK is lower than the raw loss.
        ["vp8 loss 5", { lossPct: 5 }, { vp8: true }],
        // One direction dies 3 s into the media; the call goes on for 8 s.
        ["cut", { cutAfterMs: 3000 }, { durationMs: 8000 }],
      ],
      [
        ["clean", null],
        ["delay 50", { delayMs: 50 }, { drainMs: 600 }],
        ["delay 200", { delayMs: 200 }, { drainMs: 900 }],
      ],
    ];
    for (const cases of batches) {
      const pacer = new Pacer();
      const done = await Promise.all(cases.map(([name, imp, o]) => pair(name, imp, { pacer, ...o })));
      cases.forEach(([name], i) => outcomes.set(name, done[i]!));
    }
  }, 90_000);

  afterAll(async () => {
    await turn?.stop();
  });

  const total = <T>(items: T[], f: (x: T) => number) => items.reduce((a, x) => a + f(x), 0);

  it("a clean call: nothing lost, nothing duplicated, both directions counted from the partner", () => {
    const { legs } = outcomes.get("clean")!;
    for (const l of legs) {
      expect(l.failure).toBeNull();
      expect(l.expectedFrom).toBe("partner");
      expect([l.packetsLost, l.duplicates, l.corrupt, l.replayed]).toEqual([0, 0, 0, 0]);
      expect(l.mos!.mos).toBeGreaterThan(4.3);
    }
  });

  for (const pct of [1, 5, 20]) {
    it(`injected loss ${pct} % is reported within its binomial window`, () => {
      const { legs, proxy } = outcomes.get(`loss ${pct}`)!;
      const expected = total(legs, (l) => l.packetsExpected);
      const lost = total(legs, (l) => l.packetsLost);
      const measured = (100 * lost) / expected;
      const window = lossWindowPp(pct, expected);
      console.log(
        `calibration: loss ${pct} % → ${measured.toFixed(2)} % (${lost} of ${expected}; window ±${window.toFixed(2)} pp; proxy dropped ${proxy!.uplinkDroppedRtp} SRTP, ${proxy!.uplinkDropped} with SRTCP)`,
      );
      for (const l of legs) expect(l.failure).toBeNull();
      expect(Math.abs(measured - pct)).toBeLessThanOrEqual(window);
      // Every packet the bots call lost was an SRTP packet the proxy dropped (it drops SRTCP too,
      // which is no RTP loss); a few drops can fall after the bye, past the counted call.
      expect(lost).toBeLessThanOrEqual(proxy!.uplinkDroppedRtp);
      expect(lost).toBeGreaterThanOrEqual(proxy!.uplinkDroppedRtp * 0.85);
    });
  }

  it("vp8 with NACK: loss after retransmission is labelled apart from the raw loss, which matches the injected 5 %", () => {
    const { legs } = outcomes.get("vp8 loss 5")!;
    const expected = total(legs, (l) => l.packetsExpected);
    const raw = (100 * total(legs, (l) => l.packetsLost + l.recovered)) / expected;
    const after = (100 * total(legs, (l) => l.packetsLost)) / expected;
    console.log(
      `calibration: vp8 loss 5 % → ${raw.toFixed(2)} % raw, ${after.toFixed(2)} % after NACK (${expected} packets, ${total(legs, (l) => l.recovered)} recovered)`,
    );
    for (const l of legs) {
      expect(l.failure).toBeNull();
      expect(l.nack).toBe(true);
      expect(l.rawLossPct!).toBeGreaterThanOrEqual(l.lossPct!);
      expect(l.duplicates).toBe(0);
    }
    expect(Math.abs(raw - 5)).toBeLessThanOrEqual(lossWindowPp(5, expected));
    expect(after).toBeLessThan(raw);
  });

  for (const ms of [50, 200]) {
    it(`injected delay ${ms} ms is reported within ±10 ms of what the proxy applied`, () => {
      const base = outcomes.get("clean")!.legs;
      const { legs, proxy } = outcomes.get(`delay ${ms}`)!;
      const baseline = Math.max(...base.map((l) => l.oneWayDelayMs!));
      // The proxy's timers fire a little late on this shared thread: what it really held is the truth.
      const held = proxy!.held.percentile(50)!;
      expect(held).toBeGreaterThanOrEqual(ms);
      for (const l of legs) {
        console.log(
          `calibration: delay ${ms} ms (proxy held ${held.toFixed(1)} ms) → leg median ${l.oneWayDelayMs} ms (clean ${baseline} ms), MOS ${l.mos?.mos}`,
        );
        expect(l.failure).toBeNull();
        expect(l.packetsLost).toBe(0);
        expect(Math.abs(l.oneWayDelayMs! - baseline - held)).toBeLessThanOrEqual(10);
      }
    });
  }

  it("corrupted packets (3 %) are counted corrupt, never received and never lost", () => {
    const { legs, results, proxy } = outcomes.get("corrupt 3")!;
    const expected = total(legs, (l) => l.packetsExpected);
    const corrupt = total(legs, (l) => l.corrupt);
    console.log(
      `calibration: corrupt 3 % → ${((100 * corrupt) / expected).toFixed(2)} % corrupt (${corrupt} of ${expected}), lost ${total(legs, (l) => l.packetsLost)}`,
    );
    // Each packet the proxy corrupted failed its SRTP or SRTCP authentication at the receiver.
    expect(total(results, (r) => r.integrity.corrupt + r.integrity.corruptRtcp)).toBe(proxy!.uplinkCorrupted);
    expect(Math.abs((100 * corrupt) / expected - 3)).toBeLessThanOrEqual(lossWindowPp(3, expected));
    for (const l of legs) {
      expect(l.failure).toBeNull();
      expect(l.packetsLost).toBe(0);
      expect(l.received.audio + l.received.video + l.corrupt).toBe(l.packetsExpected);
    }
  });

  it("replayed packets (3 %) are counted replayed, never received twice", () => {
    const { legs, results, proxy } = outcomes.get("replay 3")!;
    const replayed = total(legs, (l) => l.replayed);
    const expected = total(legs, (l) => l.packetsExpected);
    console.log(`calibration: replay 3 % → ${((100 * replayed) / expected).toFixed(2)} % replayed (${replayed} of ${expected})`);
    // Every second copy was caught by the RFC 3711 replay window, before the media layer.
    expect(total(results, (r) => r.integrity.replayed + r.integrity.replayedRtcp)).toBe(proxy!.uplinkReplayed);
    expect(Math.abs((100 * replayed) / expected - 3)).toBeLessThanOrEqual(lossWindowPp(3, expected));
    for (const l of legs) {
      expect(l.failure).toBeNull();
      expect([l.packetsLost, l.duplicates]).toEqual([0, 0]);
      expect(l.received.audio + l.received.video).toBe(l.packetsExpected);
    }
  });

  it("a direction cut mid-call fails the call as media-stopped and counts its dead tail as lost", () => {
    const { legs } = outcomes.get("cut")!;
    const dead = legs.find((l) => l.failure !== null);
    const alive = legs.find((l) => l !== dead)!;
    console.log(
      `calibration: cut → ${dead?.failure}; loss ${dead?.lossPct} % (${dead?.packetsLost} of ${dead?.packetsExpected}); other leg ${alive.lossPct} %`,
    );
    expect(dead?.failure).toMatch(/^media-stopped: no media from the partner for [45]\.\d s/);
    // 3 s of 8 s arrived: about 60 % of the call lost.
    expect(dead!.lossPct!).toBeGreaterThan(50);
    expect(dead!.lossPct!).toBeLessThan(70);
    expect(alive.failure).toBeNull();
    expect(alive.packetsLost).toBe(0);
  });
});

describeIf(hasCoturn, "turnserver (coturn) is not installed")("calibration: a stalled bot thread is caught", () => {
  let turn: RunningCoturn;
  beforeAll(async () => {
    turn = await startCoturn({ mode: "local" });
  });
  afterAll(async () => {
    await turn?.stop();
  });

  it("a thread blocked 250 ms in every second flags the legs it received and makes the run invalid", async () => {
    const c = turnCredentials(turn.secret, "stall", 600);
    const loop = new LoopMonitor("test").start();
    let stalling = true;
    const stall = setInterval(() => {
      const until = performance.now() + 250;
      while (stalling && performance.now() < until);
    }, 1000);
    try {
      const r = await runPair({
        iceServers: [{ urls: turn.urls, username: c.username, credential: c.credential }],
        durationMs: 5000,
        loop,
        mediaStoppedMs: 3000,
      });
      stalling = false;
      const stats = loop.stop();
      console.log(
        `calibration: stall 250 ms/s → thread stalled ${stats.stalledPct} %, lag max ${stats.lagMaxMs} ms; legs stalled ${r.legs.map((l) => `${l.hostStalledPct} %`).join(", ")}`,
      );
      for (const l of r.legs) {
        expect(l.hostStalled).toBe(true);
        expect(l.hostStalledPct!).toBeGreaterThan(15);
      }
      expect(stats.lagMaxMs).toBeGreaterThanOrEqual(240);
      expect(stats.stalledPct).toBeGreaterThan(15);
      expect(judgeHost([stats]).overloaded).toMatch(/thread test was stalled/);
    } finally {
      stalling = false;
      clearInterval(stall);
      loop.stop();
    }
  }, 40_000);
});
