/**
 * The run's report: calls grouped by session, a summary with p50/p95/max of every timing and
 * quality figure, and the thresholds that decide the exit code.
 */
import { Figures } from "./figures.ts";
import { DelayHistogram, dist, percentile, round2, type Dist } from "./metrics.ts";
import { estimateMos } from "./mos.ts";
import { judgeHost, overloadPct, type LoopStats } from "./overload.ts";
import { mediaStoppedReason, type PeerResult } from "./peer.ts";
import type { CallLeg } from "./types.ts";

export interface Thresholds {
  /** Aggregate media loss over all calls, percent. */
  maxLossPct?: number;
  /** p95 of setup (match → first media), ms. */
  maxSetupMs?: number;
  /** Connected calls over requested calls, percent. */
  minConnectedPct?: number;
  /** p5 of the per-leg audio MOS estimate (the worst 5 % of legs), 1–4.5. */
  minMos?: number;
}

export interface CallRecord {
  sessionId: string;
  /** Every leg this run owns connected (a bot whose partner is a browser owns one leg). */
  connected: boolean;
  failure: string | null;
  legs: CallLeg[];
}

export interface Summary {
  bots: number;
  /** Calls attempted: sessions matched plus the calls bots left unmatched would have made. */
  requested: number;
  sessions: number;
  connected: number;
  failed: number;
  connectedPct: number;
  unmatchedBots: number;
  /** Calls still connecting when the run ended: left out of the counts above. */
  unfinished: number;
  /** Aggregate loss: lost over expected packets of every connected leg ("after NACK" with vp8). */
  lossPct: number | null;
  /** "after NACK" when retransmission was on (vp8), else "no retransmission". */
  lossLabel: string;
  /** Aggregate loss seen before retransmission (packets missing when a later one arrived). */
  rawLossPct: number | null;
  packetsExpected: number;
  packetsLost: number;
  /** Legs whose expected counts came from the partner's send counter (whole call), of all connected legs. */
  legsCountedFromPartner: number;
  duplicates: number;
  corrupt: number;
  replayed: number;
  /** Calls failed because a direction went silent (`media-stopped`). */
  mediaStopped: number;
  /** Legs whose receiving thread stalled ≥ 2 % of the call: their figures describe the host. */
  legsHostStalled: number;
  // Every Dist below is per leg (one direction of one call) unless named per call; n = count.
  /** Per call: lobby:join → match:found. */
  joinToMatchMs: Dist;
  /** Per leg: match → ICE / DTLS connected. */
  iceMs: Dist;
  dtlsMs: Dist;
  /** Per leg: match:found → first media packet: what the thresholds call setup. */
  setupMs: Dist;
  legLossPct: Dist;
  legRawLossPct: Dist;
  /** Per leg: mean of the per-second RFC 3550 audio jitter. */
  jitterMs: Dist;
  /** Per leg: p95 of the per-second RFC 3550 audio jitter. */
  jitterP95Ms: Dist;
  /** Per leg: median one-way delay. */
  oneWayDelayMs: Dist;
  /** Per packet over the whole run (both streams, retransmissions left out): p50/p95/p99/max. */
  packetDelayMs: { count: number; p50: number | null; p95: number | null; p99: number | null; max: number | null };
  /** Per leg: data-channel echo median (both event loops included). */
  rttMs: Dist;
  /** Per leg: RTCP round-trip median. */
  rtcpRttMs: Dist;
  /** Per leg: media payload over the connected time. */
  payloadKbps: Dist;
  freezesPerMin: Dist;
  frozenPct: Dist;
  /** Per leg: E-model audio MOS estimate. */
  mos: Dist;
  /** Per leg, p5 of the MOS (what `--min-mos` checks). */
  mosP5: number | null;
  /** `local/remote` candidate types of connected legs, counted. */
  candidatePairs: Record<string, number>;
  transports: Record<string, number>;
  failures: Record<string, number>;
  durationS: number;
}

export interface ThresholdResult {
  name: keyof Thresholds;
  limit: number;
  value: number | null;
  ok: boolean;
}

/** The bot host's own load over the whole run: one event-loop histogram per thread, main included. */
export interface HostReport {
  cpuPct: number;
  workers: number;
  threads: LoopStats[];
  /** Worst thread: max lag and share of time stalled. */
  lagMaxMs: number;
  stalledPct: number;
  /** Lag near 20 ms: figures may be touched. */
  warning: string | null;
  /** Stalled ≥ 2 % of the run: the run is invalid (exit 1) unless overload was allowed. */
  overloaded: string | null;
}

export interface BotsReport {
  summary: Summary;
  thresholds: ThresholdResult[];
  /** False when the host was overloaded (and `--allow-overload` not given): the figures are not the network's. */
  valid: boolean;
  invalidReason: string | null;
  pass: boolean;
  calls: CallRecord[];
  host: HostReport;
  errors: { count: number; sample: string[] };
}

export function hostReport(threads: LoopStats[], cpuPct: number, workers: number): HostReport {
  const verdict = judgeHost(threads);
  return {
    cpuPct,
    workers,
    threads,
    lagMaxMs: Math.max(0, ...threads.map((t) => t.lagMaxMs)),
    stalledPct: Math.max(0, ...threads.map((t) => t.stalledPct)),
    ...verdict,
  };
}

/** A finished leg from a peer's result; its loss is the receiver's view until `accountCalls` sees the partner. */
export function peerLeg(
  r: PeerResult,
  meta: { sessionId: string; bot: string; userId: string | null; peerId: string; joinToMatchMs: number | null; end: string; nack: boolean },
): CallLeg {
  const minutes = r.connectedSeconds / 60;
  const bytes = r.audio.bytesReceived + r.video.bytesReceived;
  const stalledPct = r.hostStalledMs === null || r.connectedSeconds <= 0 ? null : round2(r.hostStalledMs / (10 * r.connectedSeconds));
  const leg: CallLeg = {
    sessionId: meta.sessionId,
    bot: meta.bot,
    userId: meta.userId,
    role: r.role,
    peerId: meta.peerId,
    joinToMatchMs: meta.joinToMatchMs,
    iceMs: r.iceMs,
    dtlsMs: r.dtlsMs,
    firstMediaMs: r.firstMediaMs,
    connected: r.connected,
    localCandidateType: r.localCandidateType,
    remoteCandidateType: r.remoteCandidateType,
    transport: r.transport,
    sent: r.sent,
    received: { audio: r.audio.packetsReceived, video: r.video.packetsReceived },
    expectedSeen: { audio: r.audio.packetsExpectedSeen, video: r.video.packetsExpectedSeen },
    recovered: r.audio.packetsRecovered + r.video.packetsRecovered,
    expectedFrom: "receiver",
    packetsExpected: 0,
    packetsLost: 0,
    lossPct: null,
    audioLossPct: null,
    rawLossPct: null,
    nack: meta.nack,
    duplicates: r.audio.duplicates + r.video.duplicates,
    corrupt: r.integrity.corrupt,
    replayed: r.integrity.replayed,
    jitterMs: round2(r.audio.jitterMs),
    jitterP95Ms: round2(r.audio.jitterP95Ms),
    oneWayDelayMs: round2(r.audio.oneWayDelayMs ?? r.video.oneWayDelayMs),
    delayHistogram: mergePairs([r.audio.delayHistogram, r.video.delayHistogram]),
    rttMs: round2(r.rttMs),
    rtcpRttMs: round2(r.rtcpRttMs),
    payloadKbps: r.connectedSeconds > 0 ? round2((bytes * 8) / 1000 / r.connectedSeconds) : null,
    framesReceived: r.video.framesReceived,
    freezes: r.video.freezes,
    freezeMs: Math.round(r.video.freezeMs),
    freezesPerMin: minutes > 0 ? round2(r.video.freezes / minutes) : null,
    frozenPct: r.connectedSeconds > 0 ? round2(r.video.freezeMs / (10 * r.connectedSeconds)) : null,
    pauses: r.video.pauses,
    mediaGapMs: r.mediaGapMs,
    foreignPackets: r.foreignPackets,
    otherRunPackets: r.otherRunPackets,
    connectedSeconds: round2(r.connectedSeconds) ?? 0,
    hostStalledMs: r.hostStalledMs,
    hostStalledPct: stalledPct,
    hostStalled: stalledPct !== null && stalledPct >= overloadPct,
    mos: null,
    mediaSeconds: round2(r.mediaSeconds) ?? 0,
    failure: r.failure,
    end: meta.end,
  };
  return account(leg, null);
}

function mergePairs(lists: Array<Array<[number, number]>>): Array<[number, number]> {
  const h = new DelayHistogram();
  for (const l of lists) h.merge(l);
  return h.pairs();
}

/**
 * The leg's loss figures: expected from the partner's send counter when the partner is in this
 * run (the whole call, a dead tail included), else from the highest sequence seen. Corrupt
 * packets never decrypted, so their sequence numbers are unknown: they are taken out of the
 * loss, never counted received.
 */
export function account(leg: CallLeg, partnerSent: { audio: number; video: number } | null): CallLeg {
  const expected = partnerSent ?? leg.expectedSeen;
  const lostAudio = Math.max(0, expected.audio - leg.received.audio);
  const lostAll = Math.max(0, expected.audio + expected.video - leg.received.audio - leg.received.video - leg.corrupt);
  const total = expected.audio + expected.video;
  const pct = (n: number, of: number) => (of > 0 ? round2((100 * n) / of) : null);
  const out: CallLeg = {
    ...leg,
    expectedFrom: partnerSent ? "partner" : "receiver",
    packetsExpected: total,
    packetsLost: lostAll,
    lossPct: pct(lostAll, total),
    audioLossPct: pct(lostAudio, expected.audio),
    rawLossPct: pct(lostAll + leg.recovered, total),
  };
  out.mos =
    leg.received.audio > 0 && out.audioLossPct !== null && leg.oneWayDelayMs !== null
      ? estimateMos({ lossPct: out.audioLossPct, delayMs: leg.oneWayDelayMs, jitterMs: leg.jitterP95Ms ?? 0 })
      : null;
  return out;
}

/** Every leg whose partner leg is in this run gets the whole-call accounting. */
export function accountCalls(legs: readonly CallLeg[]): CallLeg[] {
  const bySession = new Map<string, CallLeg[]>();
  for (const l of legs) bySession.set(l.sessionId, [...(bySession.get(l.sessionId) ?? []), l]);
  return legs.map((l) => {
    const partner = bySession.get(l.sessionId)!.find((p) => p !== l && p.bot !== l.bot);
    return l.connected && partner?.connected ? account(l, partner.sent) : l;
  });
}

export function groupCalls(legs: readonly CallLeg[]): CallRecord[] {
  const bySession = new Map<string, CallLeg[]>();
  for (const leg of legs) {
    const list = bySession.get(leg.sessionId) ?? [];
    list.push(leg);
    bySession.set(leg.sessionId, list);
  }
  return [...bySession.entries()].map(([sessionId, ls]) => {
    const connected = ls.every((l) => l.connected);
    // The leg that saw the cause beats the one that was only told the call ended. A connected
    // call fails too when a direction went silent (`media-stopped`).
    const reasons = ls.map((l) => l.failure).filter((f): f is string => f !== null);
    const failure = connected && !reasons.length ? null : (reasons.find((f) => !f.startsWith("call ended before")) ?? reasons[0] ?? "not connected");
    return { sessionId, connected, failure, legs: ls };
  });
}

/**
 * Failure reasons grouped: numbers and addresses vary per bot, the cause does not. A TURN URL
 * stays whole, as the server handed it out: which TURN server said no is the cause too (TURN
 * URIs carry no credentials, RFC 7065; anything after `@` would be dropped all the same).
 */
export function failureKey(reason: string): string {
  // Status codes (401, 486, ...) stay: they are the cause. split() keeps the URLs at odd indexes.
  const general = (t: string) => t.replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, "<addr>").replace(/\b\d+(\.\d+)?\s*(ms|s)\b/g, "N $2");
  return reason
    .split(/(turns?:\S+)/)
    .map((part, i) => (i % 2 ? part.replace(/^(turns?:)[^@]*@/, "$1") : general(part)))
    .join("")
    .slice(0, 200);
}

/**
 * A call still connecting when the run ended had no chance: it is neither connected nor failed.
 * It counts as unfinished, unless a leg saw a real cause (say, a TURN error) before the end.
 */
export function isUnfinished(call: CallRecord): boolean {
  return (
    !call.connected && call.legs.some((l) => l.end === "run-end") && call.legs.every((l) => l.connected || (l.failure ?? "").startsWith("call ended before"))
  );
}

/**
 * The summary of a run's legs. The distributions of setup stages, jitter, delay, RTT and bitrate
 * come from `figures`, the merged histograms of every worker, when given (legs then arrive
 * without their packet-delay histograms); one process builds them from its legs, the same way.
 */
export function summarize(
  rawLegs: readonly CallLeg[],
  opts: { bots: number; unmatchedBots: number; durationS: number; expectedCalls?: number; figures?: Figures },
): { summary: Summary; calls: CallRecord[] } {
  const legs = accountCalls(rawLegs);
  const all = groupCalls(legs);
  const calls = all.filter((c) => !isUnfinished(c));

  const connectedCalls = calls.filter((c) => c.connected && c.failure === null).length;
  // Two unmatched bots would have made one call; a lone one (waiting for a browser) one too.
  const requested = Math.max(opts.expectedCalls ?? 0, calls.length + Math.ceil(opts.unmatchedBots / 2));
  const up = legs.filter((l) => l.connected);
  const sum = (f: (l: CallLeg) => number) => up.reduce((a, l) => a + f(l), 0);
  const expected = sum((l) => l.packetsExpected);
  const lost = sum((l) => l.packetsLost);
  const figures = opts.figures ?? legs.reduce((f, l) => f.addLeg(l), new Figures());
  const packetDelay = (p: number) => round2(figures.percentile("packetDelayMs", p));
  const mos = up.map((l) => l.mos?.mos).filter((x): x is number => typeof x === "number");
  const count = (keys: string[]) => keys.reduce<Record<string, number>>((acc, k) => ((acc[k] = (acc[k] ?? 0) + 1), acc), {});
  const summary: Summary = {
    bots: opts.bots,
    requested,
    sessions: calls.length,
    connected: connectedCalls,
    failed: calls.length - connectedCalls,
    connectedPct: requested ? Math.round((10000 * connectedCalls) / requested) / 100 : 0,
    unmatchedBots: opts.unmatchedBots,
    unfinished: all.length - calls.length,
    lossPct: expected ? round2((100 * lost) / expected) : null,
    lossLabel: up.some((l) => l.nack) ? "after NACK" : "no retransmission",
    rawLossPct: expected ? round2((100 * (lost + sum((l) => l.recovered))) / expected) : null,
    packetsExpected: expected,
    packetsLost: lost,
    legsCountedFromPartner: up.filter((l) => l.expectedFrom === "partner").length,
    duplicates: sum((l) => l.duplicates),
    corrupt: sum((l) => l.corrupt),
    replayed: sum((l) => l.replayed),
    mediaStopped: calls.filter((c) => (c.failure ?? "").startsWith(mediaStoppedReason)).length,
    legsHostStalled: up.filter((l) => l.hostStalled).length,
    joinToMatchMs: figures.dist("joinToMatchMs"),
    iceMs: figures.dist("iceMs"),
    dtlsMs: figures.dist("dtlsMs"),
    setupMs: figures.dist("setupMs"),
    legLossPct: dist(up.map((l) => l.lossPct)),
    legRawLossPct: dist(up.map((l) => l.rawLossPct)),
    jitterMs: figures.dist("jitterMs"),
    jitterP95Ms: figures.dist("jitterP95Ms"),
    oneWayDelayMs: figures.dist("oneWayDelayMs"),
    packetDelayMs: { count: figures.count("packetDelayMs"), p50: packetDelay(50), p95: packetDelay(95), p99: packetDelay(99), max: packetDelay(100) },
    rttMs: figures.dist("rttMs"),
    rtcpRttMs: figures.dist("rtcpRttMs"),
    payloadKbps: figures.dist("payloadKbps"),
    freezesPerMin: dist(up.map((l) => l.freezesPerMin)),
    frozenPct: dist(up.map((l) => l.frozenPct)),
    mos: dist(mos),
    mosP5: round2(
      percentile(
        [...mos].sort((a, b) => a - b),
        5,
      ),
    ),
    candidatePairs: count(up.map((l) => `${l.localCandidateType ?? "?"}/${l.remoteCandidateType ?? "?"}`)),
    transports: count(up.map((l) => l.transport ?? "?")),
    failures: count(calls.filter((c) => c.failure !== null).map((c) => failureKey(c.failure!))),
    durationS: Math.round(opts.durationS * 10) / 10,
  };
  // The per-leg histograms are merged above; the report keeps the merged figures only.
  const slim = all.map((c) => ({ ...c, legs: c.legs.map(({ delayHistogram: _, ...l }) => l) }));
  return { summary, calls: slim };
}

/** Every given threshold, checked. A run where no call connected fails `minConnectedPct`, whatever its limit. */
export function checkThresholds(s: Summary, t: Thresholds): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  if (t.maxLossPct !== undefined) out.push({ name: "maxLossPct", limit: t.maxLossPct, value: s.lossPct, ok: s.lossPct !== null && s.lossPct <= t.maxLossPct });
  if (t.maxSetupMs !== undefined)
    out.push({ name: "maxSetupMs", limit: t.maxSetupMs, value: s.setupMs.p95, ok: s.setupMs.p95 !== null && s.setupMs.p95 <= t.maxSetupMs });
  if (t.minMos !== undefined) out.push({ name: "minMos", limit: t.minMos, value: s.mosP5, ok: s.mosP5 !== null && s.mosP5 >= t.minMos });
  if (t.minConnectedPct !== undefined)
    out.push({ name: "minConnectedPct", limit: t.minConnectedPct, value: s.connectedPct, ok: s.connected > 0 && s.connectedPct >= t.minConnectedPct });
  return out;
}
