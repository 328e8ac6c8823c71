/**
 * The run's report: calls grouped by session, a summary with p50/p95/max of every timing and
 * quality figure, and the thresholds that decide the exit code.
 */
import { dist, type Dist } from "./metrics.ts";
import type { CallLeg } from "./types.ts";

export interface Thresholds {
  /** Aggregate media loss over all calls, percent. */
  maxLossPct?: number;
  /** p95 of setup (match → first media), ms. */
  maxSetupMs?: number;
  /** Connected calls over requested calls, percent. */
  minConnectedPct?: number;
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
  /** Aggregate loss: lost over expected packets of every leg. */
  lossPct: number | null;
  packetsExpected: number;
  packetsLost: number;
  joinToMatchMs: Dist;
  iceMs: Dist;
  dtlsMs: Dist;
  /** match:found → first media packet: what the thresholds call setup. */
  setupMs: Dist;
  legLossPct: Dist;
  jitterMs: Dist;
  oneWayDelayMs: Dist;
  rttMs: Dist;
  bitrateKbps: Dist;
  freezes: Dist;
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

export interface BotsReport {
  summary: Summary;
  thresholds: ThresholdResult[];
  pass: boolean;
  calls: CallRecord[];
  /** The bot host itself: an overloaded client must not pass for a bad network. */
  host: { cpuPct: number; loopLagP99Ms: number | null; workers: number };
  errors: { count: number; sample: string[] };
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
    // The leg that saw the cause beats the one that was only told the call ended.
    const reasons = ls.map((l) => l.failure).filter((f): f is string => f !== null);
    const failure = connected ? null : (reasons.find((f) => !f.startsWith("call ended before")) ?? reasons[0] ?? "not connected");
    return { sessionId, connected, failure, legs: ls };
  });
}

/** Failure reasons grouped: numbers and addresses vary per bot, the cause does not. */
export function failureKey(reason: string): string {
  // Status codes (401, 486, ...) stay: they are the cause.
  return reason
    .replace(/turns?:\S+/g, "<url>")
    .replace(/\b\d{1,3}(\.\d{1,3}){3}(:\d+)?\b/g, "<addr>")
    .replace(/\b\d+(\.\d+)?\s*(ms|s)\b/g, "N $2")
    .slice(0, 160);
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

export function summarize(
  legs: readonly CallLeg[],
  opts: { bots: number; unmatchedBots: number; durationS: number; expectedCalls?: number },
): { summary: Summary; calls: CallRecord[] } {
  const all = groupCalls(legs);
  const calls = all.filter((c) => !isUnfinished(c));
  const connectedCalls = calls.filter((c) => c.connected).length;
  // Two unmatched bots would have made one call; a lone one (waiting for a browser) one too.
  const requested = Math.max(opts.expectedCalls ?? 0, calls.length + Math.ceil(opts.unmatchedBots / 2));
  const up = legs.filter((l) => l.connected);
  const expected = up.reduce((a, l) => a + l.packetsExpected, 0);
  const lost = up.reduce((a, l) => a + l.packetsLost, 0);
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
    lossPct: expected ? Math.round((10000 * lost) / expected) / 100 : null,
    packetsExpected: expected,
    packetsLost: lost,
    joinToMatchMs: dist(legs.map((l) => l.joinToMatchMs)),
    iceMs: dist(legs.map((l) => l.iceMs)),
    dtlsMs: dist(legs.map((l) => l.dtlsMs)),
    setupMs: dist(legs.map((l) => l.firstMediaMs)),
    legLossPct: dist(up.map((l) => l.lossPct)),
    jitterMs: dist(up.map((l) => l.jitterMs)),
    oneWayDelayMs: dist(up.map((l) => l.oneWayDelayMs)),
    rttMs: dist(up.map((l) => l.rttMs)),
    bitrateKbps: dist(up.map((l) => l.bitrateKbps)),
    freezes: dist(up.map((l) => l.freezes)),
    candidatePairs: count(up.map((l) => `${l.localCandidateType ?? "?"}/${l.remoteCandidateType ?? "?"}`)),
    transports: count(up.map((l) => l.transport ?? "?")),
    failures: count(calls.filter((c) => !c.connected).map((c) => failureKey(c.failure ?? "not connected"))),
    durationS: Math.round(opts.durationS * 10) / 10,
  };
  return { summary, calls: all };
}

/** Every given threshold, checked. A run where no call connected fails `minConnectedPct`, whatever its limit. */
export function checkThresholds(s: Summary, t: Thresholds): ThresholdResult[] {
  const out: ThresholdResult[] = [];
  if (t.maxLossPct !== undefined) out.push({ name: "maxLossPct", limit: t.maxLossPct, value: s.lossPct, ok: s.lossPct !== null && s.lossPct <= t.maxLossPct });
  if (t.maxSetupMs !== undefined)
    out.push({ name: "maxSetupMs", limit: t.maxSetupMs, value: s.setupMs.p95, ok: s.setupMs.p95 !== null && s.setupMs.p95 <= t.maxSetupMs });
  if (t.minConnectedPct !== undefined)
    out.push({ name: "minConnectedPct", limit: t.minConnectedPct, value: s.connectedPct, ok: s.connected > 0 && s.connectedPct >= t.minConnectedPct });
  return out;
}
