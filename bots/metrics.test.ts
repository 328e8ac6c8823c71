import { describe, expect, it } from "vitest";
import { RtpHeader, RtpPacket } from "werift";
import { now } from "./clock.ts";
import { ReplayWindow } from "./integrity.ts";
import { MediaReceiver, writeSynthetic } from "./media.ts";
import { DelayHistogram, dist, freezeThresholdMs, percentile, StreamStats } from "./metrics.ts";
import { delayImpairment, estimateMos } from "./mos.ts";
import { account, checkThresholds, failureKey, summarize } from "./report.ts";
import { liveProgress } from "./live.ts";
import type { BotCounts, CallLeg } from "./types.ts";

describe("percentiles", () => {
  it("uses the nearest rank", () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(v, 50)).toBe(50);
    expect(percentile(v, 95)).toBe(95);
    expect(percentile([], 50)).toBeNull();
    expect(dist([3, null, 1, 2, undefined, Number.NaN])).toEqual({ count: 3, p50: 2, p95: 3, max: 3 });
  });
});

describe("StreamStats", () => {
  it("counts loss from gaps in the sender's sequence, duplicates apart", () => {
    const s = new StreamStats();
    for (let seq = 0; seq < 100; seq++) if (seq % 10 !== 3) s.onPacket(seq, 1000 + seq * 20, 1005 + seq * 20, 100);
    // Ten duplicates (a replay, a retransmission racing its original) never hide ten losses.
    for (let seq = 0; seq < 10; seq++) s.onPacket(seq, 1000 + seq * 20, 2500, 100);
    const snap = s.snapshot();
    expect(snap.packetsExpectedSeen).toBe(100);
    expect(snap.packetsReceived).toBe(91); // seq 3's first copy came late: received once
    expect(snap.duplicates).toBe(9);
    expect(s.counts()).toEqual({ lost: 9, expected: 100 });
    expect(snap.oneWayDelayMs).toBe(5);
  });

  it("regression: duplicates counted as received hid losses (10 lost + 10 duplicated read 0 lost)", () => {
    const s = new StreamStats();
    for (let seq = 0; seq < 100; seq++) if (seq < 10 || seq >= 20) s.onPacket(seq, seq * 20, seq * 20 + 5, 100);
    for (let seq = 30; seq < 40; seq++) s.onPacket(seq, seq * 20, 2100, 100);
    expect(s.counts()).toEqual({ lost: 10, expected: 100 });
  });

  it("computes RFC 3550 jitter from RTP timestamps, sampled each second: mean and p95", () => {
    const s = new StreamStats({ clockRate: 48000 });
    // Audio every 20 ms (960 ticks); transit alternates 10 / 20 ms: |D| = 10 ms, J → 10 ms.
    for (let i = 0; i < 500; i++) s.onPacket(i, i * 20, i * 20 + (i % 2 ? 20 : 10), 100, (i * 960) >>> 0);
    const snap = s.snapshot();
    expect(snap.jitterP95Ms).toBeCloseTo(10, 0);
    expect(snap.jitterMs!).toBeGreaterThan(8);
  });

  it("regression: a 20 ms burst then clean packets is not reduced to the last smoothed value", () => {
    const s = new StreamStats({ clockRate: 48000 });
    let i = 0;
    for (; i < 150; i++) s.onPacket(i, i * 20, i * 20 + 5 + (i >= 50 && i < 100 ? (i % 2) * 20 : 0), 100, i * 960);
    const snap = s.snapshot();
    // The old figure (the smoothed J at hang-up) read ~0.03 ms here.
    expect(snap.jitterP95Ms!).toBeGreaterThan(10);
  });

  it("takes the send time from RTP timestamps, not the measuring header, for jitter; and leaves resent packets out", () => {
    const s = new StreamStats({ clockRate: 48000 });
    for (let i = 0; i < 200; i++) if (i !== 50) s.onPacket(i, i * 20, i * 20 + 5, 100, i * 960);
    s.onPacket(50, 50 * 20, 200 * 20 + 100, 100, 50 * 960); // resent long after
    const snap = s.snapshot();
    expect(snap.packetsRecovered).toBe(1);
    expect(snap.jitterP95Ms!).toBeLessThan(0.01);
    expect(snap.oneWayDelayMaxMs).toBe(5);
  });

  it("keeps the delay at 0.1 ms resolution below 100 ms", () => {
    const h = new DelayHistogram();
    for (const ms of [0.12, 0.14, 0.31, 120.4]) h.add(ms);
    expect(h.pairs()).toEqual([
      [0.1, 2],
      [0.3, 1],
      [120, 1],
    ]);
    expect(h.percentile(50)).toBe(0.1);
    expect(h.percentile(100)).toBe(120);
    // 99.96 rounds to 100.0 (the first 1 ms step); negative delays (clock noise) count as 0.
    for (const ms of [99.96, 100.2, -0.3]) h.add(ms);
    expect(h.pairs()).toEqual([
      [0, 1],
      [0.1, 2],
      [0.3, 1],
      [100, 2],
      [120, 1],
    ]);
    // Pairs cross threads and merge back into the same histogram.
    const merged = new DelayHistogram();
    merged.merge(h.pairs());
    merged.merge([[0.3, 2]]);
    expect(merged.pairs()).toEqual([
      [0, 1],
      [0.1, 2],
      [0.3, 3],
      [100, 2],
      [120, 1],
    ]);
    expect(merged.count).toBe(9);
  });
});

describe("freezes as webrtc-stats counts them", () => {
  const frame = (s: StreamStats, id: number, at: number, seq = id) => s.onPacket(seq, at, at, 1000, undefined, { id, start: true, end: true });

  it("a gap equal to the threshold is a freeze (≥), below it is not", () => {
    expect(freezeThresholdMs(1000 / 30)).toBeCloseTo(183.3, 1);
    expect(freezeThresholdMs(100)).toBe(300);
    const s = new StreamStats({ nominalFrameMs: 100 });
    let t = 0;
    let id = 0;
    for (; id < 30; id++) frame(s, id, (t += 100));
    frame(s, id++, (t += 299));
    expect(s.snapshot().freezes).toBe(0);
    for (let k = 0; k < 30; k++) frame(s, id++, (t += 100));
    frame(s, id++, (t += 300));
    expect(s.snapshot().freezes).toBe(1);
  });

  it("averages the last 30 frames, not every gap since the start", () => {
    const s = new StreamStats({ nominalFrameMs: 100 });
    let t = 0;
    let id = 0;
    // Slow frames first (1 s apart, a cumulative mean would stay high), then 40 at 100 ms.
    for (; id < 10; id++) frame(s, id, (t += 1000));
    for (let k = 0; k < 40; k++) frame(s, id++, (t += 100));
    const before = s.snapshot().freezes;
    frame(s, id++, (t += 350)); // ≥ 300 for the last 30 frames; under 3 × the cumulative mean (795 ms)
    expect(s.snapshot().freezes).toBe(before + 1);
  });

  it("a gap over 5 s is a pause, not a freeze; the final gap to hang-up counts", () => {
    const s = new StreamStats({ nominalFrameMs: 100 });
    let t = 0;
    let id = 0;
    for (; id < 30; id++) frame(s, id, (t += 100));
    frame(s, id++, (t += 6000));
    for (let k = 0; k < 5; k++) frame(s, id++, (t += 100));
    const snap = s.snapshot(t + 2000);
    expect(snap).toMatchObject({ freezes: 1, pauses: 1, pauseMs: 6000, freezeMs: 2000 });
  });

  it("a frame missing a packet is not rendered", () => {
    const s = new StreamStats({ nominalFrameMs: 100 });
    let seq = 0;
    for (let id = 0; id < 10; id++) {
      const at = id * 100;
      // Three packets a frame; frame 5 loses its middle one.
      s.onPacket(seq++, at, at, 500, undefined, { id, start: true, end: false });
      if (id !== 5) s.onPacket(seq, at, at, 500, undefined, { id, start: false, end: false });
      seq++;
      s.onPacket(seq++, at, at, 500, undefined, { id, start: false, end: true });
    }
    const snap = s.snapshot();
    expect(snap.framesReceived).toBe(9);
    expect(snap.freezes).toBe(0); // a 200 ms gap at 100 ms frames is under max(300, 250)
  });
});

describe("RFC 3711 replay window", () => {
  it("accepts each index once, in any order within 64, and refuses older ones", () => {
    const w = new ReplayWindow();
    expect(w.accept(100)).toBe(true);
    expect(w.accept(100)).toBe(false);
    expect(w.accept(98)).toBe(true);
    expect(w.accept(98)).toBe(false);
    expect(w.accept(170)).toBe(true);
    expect(w.accept(107)).toBe(true); // 63 behind
    expect(w.accept(106)).toBe(false); // 64 behind: too old to tell
    expect(w.accept(1000)).toBe(true);
    expect(w.accept(170)).toBe(false);
  });

  it("agrees with a plain set of seen indices over random reorderings, replays and jumps", () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let run = 0; run < 50; run++) {
      const w = new ReplayWindow();
      const seen = new Set<number>();
      let highest = -1;
      let next = 1000;
      for (let i = 0; i < 2000; i++) {
        const r = random();
        // Mostly in order, some late (up to 80 back: across both words and past the window), some jumps ahead.
        const index = r < 0.6 ? next++ : r < 0.95 ? Math.max(0, next - 1 - Math.floor(random() * 80)) : (next += Math.floor(random() * 100));
        const expected = index > highest || (highest - index < 64 && !seen.has(index));
        expect(w.accept(index), `run ${run}, step ${i}: index ${index}, highest ${highest}`).toBe(expected);
        if (expected) seen.add(index);
        highest = Math.max(highest, index);
      }
    }
  });
});

describe("E-model MOS (ITU-T G.107)", () => {
  it("gives the known anchors: clean short call ≈ 4.4, loss and long delay pull it down", () => {
    expect(delayImpairment(100)).toBe(0);
    expect(delayImpairment(400)).toBeGreaterThan(15);
    expect(estimateMos({ lossPct: 0, delayMs: 1, jitterMs: 0 }).mos).toBeCloseTo(4.41, 1);
    const five = estimateMos({ lossPct: 5, delayMs: 50, jitterMs: 2 });
    expect(five.r).toBeCloseTo(93.2 - (95 * 5) / (5 + 25.1), 1);
    expect(five.mos).toBeLessThan(4);
    expect(estimateMos({ lossPct: 20, delayMs: 50, jitterMs: 2 }).mos).toBeLessThan(five.mos);
    expect(estimateMos({ lossPct: 0, delayMs: 400, jitterMs: 2 }).mos).toBeLessThan(4);
  });
});

/** A connected leg that received `audio` + `video` packets of its partner's 500 + 500. */
const leg = (over: Partial<CallLeg>): CallLeg =>
  account(
    {
      sessionId: "s1",
      bot: "bot-0",
      userId: "u",
      role: "offerer",
      peerId: "p",
      joinToMatchMs: 10,
      iceMs: 100,
      dtlsMs: 200,
      firstMediaMs: 210,
      connected: true,
      localCandidateType: "relay",
      remoteCandidateType: "relay",
      transport: "udp",
      sent: { audio: 500, video: 500 },
      received: { audio: 495, video: 495 },
      expectedSeen: { audio: 500, video: 500 },
      recovered: 0,
      expectedFrom: "receiver",
      packetsExpected: 0,
      packetsLost: 0,
      lossPct: null,
      audioLossPct: null,
      rawLossPct: null,
      nack: false,
      duplicates: 0,
      corrupt: 0,
      replayed: 0,
      jitterMs: 1,
      jitterP95Ms: 2,
      oneWayDelayMs: 2,
      delayHistogram: [[2, 990]],
      rttMs: 5,
      rtcpRttMs: 4,
      payloadKbps: 300,
      framesReceived: 300,
      freezes: 0,
      freezeMs: 0,
      freezesPerMin: 0,
      frozenPct: 0,
      pauses: 0,
      mediaGapMs: 40,
      foreignPackets: 0,
      otherRunPackets: 0,
      connectedSeconds: 10,
      hostStalledMs: 0,
      hostStalledPct: 0,
      hostStalled: false,
      mos: null,
      mediaSeconds: 10,
      failure: null,
      end: "run-end",
      ...over,
    },
    null,
  );

describe("report", () => {
  it("groups legs by session and counts unmatched bots as calls not made", () => {
    const legs = [
      leg({}),
      leg({ bot: "bot-1", role: "answerer", received: { audio: 485, video: 485 } }),
      leg({
        sessionId: "s2",
        bot: "bot-2",
        connected: false,
        failure: "no relay candidate: TURN 127.0.0.1:3478 answered 401 Unauthorized",
        dtlsMs: null,
        firstMediaMs: null,
        sent: { audio: 0, video: 0 },
        received: { audio: 0, video: 0 },
        expectedSeen: { audio: 0, video: 0 },
      }),
    ];
    const { summary, calls } = summarize(legs, { bots: 6, unmatchedBots: 2, durationS: 10, expectedCalls: 3 });
    expect(calls).toHaveLength(2);
    expect(summary.requested).toBe(3);
    expect(summary.connected).toBe(1);
    expect(summary.connectedPct).toBeCloseTo(33.33, 1);
    expect(summary.lossPct).toBe(2); // 40 of 2000
    expect(summary.legsCountedFromPartner).toBe(2);
    expect(summary.packetDelayMs).toMatchObject({ count: 1980, p50: 2, p99: 2 });
    expect(summary.candidatePairs).toEqual({ "relay/relay": 2 });
    expect(Object.keys(summary.failures)[0]).toContain("401 Unauthorized");
    const t = checkThresholds(summary, { maxLossPct: 1, minConnectedPct: 30, maxSetupMs: 500, minMos: 4.6 });
    expect(t.map((x) => [x.name, x.ok])).toEqual([
      ["maxLossPct", false],
      ["maxSetupMs", true],
      ["minMos", false],
      ["minConnectedPct", true],
    ]);
    expect(summary.mos.count).toBe(2);
  });

  it("regression: a direction that died mid-call counts its dead tail as lost (expected from the partner's send counter)", () => {
    // The partner sent 480 + 480; the receiver got the first 231 + 230, then nothing: its own view says 0 % lost.
    const dead = leg({ bot: "bot-1", role: "answerer", received: { audio: 231, video: 230 }, expectedSeen: { audio: 231, video: 230 } });
    expect(dead.lossPct).toBe(0);
    const { calls } = summarize([leg({ sent: { audio: 480, video: 480 } }), dead], { bots: 2, unmatchedBots: 0, durationS: 12 });
    const counted = calls[0]!.legs.find((l) => l.bot === "bot-1")!;
    expect(counted.expectedFrom).toBe("partner");
    expect(counted.packetsExpected).toBe(960);
    expect(counted.lossPct).toBeCloseTo(51.98, 1);
    expect(counted.audioLossPct).toBeCloseTo(51.88, 1);
    expect(counted.mos!.mos).toBeLessThan(2);
  });

  it("a media-stopped leg fails its call, whatever the loss", () => {
    const { summary, calls } = summarize([leg({}), leg({ bot: "bot-1", failure: "media-stopped: no media from the partner for 6.0 s (limit 3 s)" })], {
      bots: 2,
      unmatchedBots: 0,
      durationS: 12,
    });
    expect(calls[0]!.failure).toMatch(/^media-stopped/);
    expect(summary).toMatchObject({ connected: 0, failed: 1, mediaStopped: 1 });
  });

  it("corrupt and replayed packets are neither received nor lost; loss after NACK is labelled beside raw loss", () => {
    const l = leg({ received: { audio: 490, video: 490 }, corrupt: 10, replayed: 7, recovered: 15, nack: true });
    expect(l.packetsLost).toBe(10);
    expect(l.rawLossPct).toBe(2.5);
    const { summary } = summarize([l], { bots: 1, unmatchedBots: 0, durationS: 10 });
    expect(summary).toMatchObject({ corrupt: 10, replayed: 7, lossLabel: "after NACK", lossPct: 1, rawLossPct: 2.5 });
  });

  it("leaves calls cut by the end of the run out of the counts", () => {
    const cut = leg({
      sessionId: "s9",
      connected: false,
      failure: "call ended before it connected",
      end: "run-end",
      sent: { audio: 0, video: 0 },
      received: { audio: 0, video: 0 },
      expectedSeen: { audio: 0, video: 0 },
    });
    const { summary, calls } = summarize([leg({}), cut], { bots: 4, unmatchedBots: 0, durationS: 10, expectedCalls: 1 });
    expect(calls).toHaveLength(2);
    expect(summary).toMatchObject({ sessions: 1, connected: 1, failed: 0, unfinished: 1, connectedPct: 100 });
    // A leg that saw the cause before the end still counts as failed.
    const named = summarize([{ ...cut, failure: "no relay candidate: TURN answered 401 Unauthorized" }], { bots: 2, unmatchedBots: 0, durationS: 10 });
    expect(named.summary).toMatchObject({ failed: 1, unfinished: 0 });
  });

  it("fails min-connected when no call happened at all", () => {
    const { summary } = summarize([], { bots: 2, unmatchedBots: 2, durationS: 5 });
    expect(checkThresholds(summary, { minConnectedPct: 0 })[0]!.ok).toBe(false);
  });

  it("groups failure reasons that differ only in numbers", () => {
    expect(failureKey("not connected within 20 s (ICE checking)")).toBe(failureKey("not connected within 15 s (ICE checking)"));
  });

  it("keeps the TURN URL that failed, without anything before an @", () => {
    const reason = "no relay candidate: TURN turn:10.1.2.3:3478?transport=udp answered 401 Unauthorized after 12 ms from 127.0.0.1:5000";
    expect(failureKey(reason)).toBe("no relay candidate: TURN turn:10.1.2.3:3478?transport=udp answered 401 Unauthorized after N ms from <addr>");
    expect(failureKey("TURN turns:user:pw@turn.example.com:5349?transport=tcp failed")).toBe("TURN turns:turn.example.com:5349?transport=tcp failed");
  });
});

/** One thread's counts, as `group.ts` sends them. */
const counts = (over: Partial<BotCounts>): BotCounts => ({
  bots: 2,
  starting: 0,
  waiting: 0,
  connecting: 0,
  up: 0,
  lost: 0,
  expected: 0,
  loopLagMs: 1,
  startLagMs: 0,
  errors: 0,
  lastError: null,
  upSessions: [],
  liveSetupsMs: [],
  media: { windowMs: 1000, legs: 0, bytes: 0, jitterSumMs: 0, jitterLegs: 0, delaySumMs: 0, delayPackets: 0, freezes: 0 },
  cpuPct: 5,
  ...over,
});

describe("the live feed counts as the final report does", () => {
  const feed = (legs: CallLeg[], threads: Record<string, BotCounts>, elapsedS = 10) =>
    liveProgress({ elapsedS, durationS: 30, legs, counts: new Map(Object.entries(threads)), cpuPct: 50, cores: 2, workers: 2 });

  it("setup percentiles come from calls up now, before any call has ended", () => {
    const p = feed([], {
      "worker 0": counts({ up: 1, upSessions: ["s1"], liveSetupsMs: [300] }),
      "worker 1": counts({ up: 1, upSessions: ["s1"], liveSetupsMs: [500] }),
    });
    expect([p.setupP50Ms, p.setupP95Ms]).toEqual([300, 500]);
    // Two bots on two threads, one call.
    expect(p.calls).toEqual({ up: 1, connected: 1, failed: 0 });
    expect(p.bots.up).toBe(2);
    expect(p.connectedPerS).toBe(0.1);
  });

  it("failed counts calls, not bots; rates count connected calls only; the cause beats what the bots were told next", () => {
    const cause = "no relay candidate: TURN turn:127.0.0.1:3478?transport=udp answered 401 Unauthorized: TURN credentials rejected";
    const failed = { connected: false, dtlsMs: null, firstMediaMs: null, end: "failed" };
    const p = feed(
      [
        leg({ sessionId: "s1", bot: "bot-0", ...failed, failure: cause }),
        leg({ sessionId: "s1", bot: "bot-1", ...failed, failure: "call ended before it connected" }),
        leg({ sessionId: "s2", bot: "bot-2", ...failed, failure: cause }),
        leg({ sessionId: "s2", bot: "bot-3", ...failed, failure: "call ended before it connected" }),
      ],
      { "worker 0": counts({ errors: 2, lastError: "call:stats: you are not in this call", waiting: 2 }) },
    );
    expect(p.calls).toEqual({ up: 0, connected: 0, failed: 2 });
    expect(p.connectedPerS).toBe(0);
    expect(p.setupP50Ms).toBeNull();
    expect(p.lastError).toBe(cause);
    // Without a failed call, the last error a bot saw.
    expect(feed([], { "worker 0": counts({ lastError: "lobby:join: RATE_LIMITED" }) }).lastError).toBe("lobby:join: RATE_LIMITED");
  });

  it("media of the last second: kbps per leg, mean jitter and delay, freezes; one sample per thread", () => {
    const media = { windowMs: 1000, legs: 2, bytes: 75_000, jitterSumMs: 3, jitterLegs: 2, delaySumMs: 400, delayPackets: 100, freezes: 1 };
    const p = feed([], { "worker 0": counts({ up: 2, upSessions: ["s1"], media, cpuPct: 40, loopLagMs: 3 }) });
    expect(p.media).toEqual({ kbpsPerLeg: 300, jitterMs: 1.5, delayMs: 4, freezes: 1 });
    expect(p.threads).toEqual([{ worker: "worker 0", cpuPct: 40, loopLagMs: 3 }]);
  });
});

describe("the measuring header", () => {
  it("carries the run id: a packet of another run is ignored, not measured", () => {
    const packet = (runId: number, seq: number) =>
      new RtpPacket(
        new RtpHeader({ sequenceNumber: seq, timestamp: seq * 960 }),
        writeSynthetic(Buffer.alloc(100), { kind: "audio", runId, seq, sentAt: now() - 3, frameId: seq, frameStart: true, frameEnd: true }),
      );
    const rx = new MediaReceiver(7);
    for (let seq = 0; seq < 10; seq++) rx.onRtp("audio", packet(7, seq));
    // Another run's bot, its clock maybe elsewhere: 5 packets with a send time an hour off.
    for (let seq = 0; seq < 5; seq++)
      rx.onRtp(
        "audio",
        new RtpPacket(
          new RtpHeader({ sequenceNumber: seq }),
          writeSynthetic(Buffer.alloc(100), {
            kind: "audio",
            runId: 8,
            seq: 100 + seq,
            sentAt: now() - 3_600_000,
            frameId: 0,
            frameStart: true,
            frameEnd: true,
          }),
        ),
      );
    const snap = rx.audio.snapshot();
    expect(rx.otherRunPackets).toBe(5);
    expect(snap.packetsReceived).toBe(10);
    expect(snap.oneWayDelayMaxMs!).toBeLessThan(100);
  });
});
