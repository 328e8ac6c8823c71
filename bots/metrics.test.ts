import { describe, expect, it } from "vitest";
import { dist, freezeThresholdMs, percentile, StreamStats } from "./metrics.ts";
import { checkThresholds, failureKey, summarize } from "./report.ts";
import type { CallLeg } from "./types.ts";

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
  it("counts loss from gaps in the sender's sequence", () => {
    const s = new StreamStats();
    for (let seq = 0; seq < 100; seq++) if (seq % 10 !== 3) s.onPacket(seq, 1000 + seq * 20, 1005 + seq * 20, 100);
    const snap = s.snapshot();
    expect(snap.packetsExpected).toBe(100);
    expect(snap.packetsLost).toBe(10);
    expect(snap.oneWayDelayMs).toBeCloseTo(5.5, 0);
    expect(snap.jitterMs).toBeCloseTo(0, 5);
  });

  it("computes RFC 3550 jitter from transit differences", () => {
    const s = new StreamStats();
    // Transit alternates 10 / 20 ms: |D| = 10 every packet, J converges to 10.
    for (let i = 0; i < 400; i++) s.onPacket(i, i * 20, i * 20 + (i % 2 ? 20 : 10), 100);
    expect(s.snapshot().jitterMs).toBeCloseTo(10, 1);
  });

  it("counts a freeze when a frame gap exceeds max(3x interval, interval + 150 ms)", () => {
    expect(freezeThresholdMs(1000 / 30)).toBeCloseTo(183.3, 1);
    expect(freezeThresholdMs(100)).toBe(300);
    const s = new StreamStats(1000 / 30);
    let t = 0;
    for (let f = 0; f < 30; f++) s.onPacket(f, t, (t += 33.3), 1000, { id: f, end: true });
    t += 150; // a 183 ms gap: not a freeze
    s.onPacket(30, t, t, 1000, { id: 30, end: true });
    t += 400; // a 400 ms gap: one freeze
    s.onPacket(31, t, t, 1000, { id: 31, end: true });
    const snap = s.snapshot();
    expect(snap.freezes).toBe(1);
    expect(snap.framesReceived).toBe(32);
  });
});

const leg = (over: Partial<CallLeg>): CallLeg => ({
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
  packetsExpected: 1000,
  packetsLost: 10,
  lossPct: 1,
  jitterMs: 1,
  oneWayDelayMs: 2,
  rttMs: 5,
  bitrateKbps: 300,
  framesReceived: 300,
  freezes: 0,
  freezeMs: 0,
  foreignPackets: 0,
  mediaSeconds: 10,
  failure: null,
  end: "run-end",
  ...over,
});

describe("report", () => {
  it("groups legs by session and counts unmatched bots as calls not made", () => {
    const legs = [
      leg({}),
      leg({ bot: "bot-1", role: "answerer", packetsLost: 30, lossPct: 3 }),
      leg({
        sessionId: "s2",
        bot: "bot-2",
        connected: false,
        failure: "no relay candidate: TURN 127.0.0.1:3478 answered 401 Unauthorized",
        dtlsMs: null,
        firstMediaMs: null,
        packetsExpected: 0,
        packetsLost: 0,
      }),
    ];
    const { summary, calls } = summarize(legs, { bots: 6, unmatchedBots: 2, durationS: 10, expectedCalls: 3 });
    expect(calls).toHaveLength(2);
    expect(summary.requested).toBe(3);
    expect(summary.connected).toBe(1);
    expect(summary.connectedPct).toBeCloseTo(33.33, 1);
    expect(summary.lossPct).toBe(2); // 40 of 2000
    expect(summary.candidatePairs).toEqual({ "relay/relay": 2 });
    expect(Object.keys(summary.failures)[0]).toContain("401 Unauthorized");
    const t = checkThresholds(summary, { maxLossPct: 1, minConnectedPct: 30, maxSetupMs: 500 });
    expect(t.map((x) => [x.name, x.ok])).toEqual([
      ["maxLossPct", false],
      ["maxSetupMs", true],
      ["minConnectedPct", true],
    ]);
  });

  it("leaves calls cut by the end of the run out of the counts", () => {
    const cut = leg({ sessionId: "s9", connected: false, failure: "call ended before it connected", end: "run-end", packetsExpected: 0, packetsLost: 0 });
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
});
