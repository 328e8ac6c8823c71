/**
 * Ink views of `vchat bots`: the live dashboard and the summary table. They only render
 * props; `bots/run.ts` computes everything. No JSX in Node-side code.
 */
import { Box, Text } from "ink";
import React from "react";
import type { Progress } from "../../bots/run.ts";
import type { FleetReport } from "../../bots/fleet/merge.ts";
import type { BotsReport } from "../../bots/report.ts";
import type { Dist } from "../../bots/metrics.ts";
import { overloadPct, stallMs } from "../../bots/overload.ts";

const h = React.createElement;

const fmt = (x: number | null | undefined, unit = "") => (x === null || x === undefined ? "–" : `${Math.round(x * 10) / 10}${unit}`);

/**
 * Live figures, counted as the final report counts them: calls (not bots) up, connected and
 * failed; setup over the calls connected so far; the last second's media; the bot host's load
 * in percent of one core, as the summary says it; the cause of the last failure.
 */
export function BotsDashboard(props: { progress: Progress | null; url: string }) {
  const p = props.progress;
  if (!p) return h(Text, null, `vchat bots → ${props.url}: starting…`);
  const { calls, bots, media } = p;
  const overloaded = p.cpuPct > p.cores * 85 || p.loopLagMs >= stallMs;
  return h(
    Box,
    { flexDirection: "column" },
    h(Text, { bold: true }, `vchat bots → ${props.url}   ${fmt(p.elapsedS)} / ${p.durationS} s`),
    h(
      Text,
      null,
      "calls: ",
      h(Text, { color: "green" }, `up ${calls.up}`),
      "   ",
      `connected ${calls.connected}`,
      "   ",
      h(Text, { color: calls.failed ? "red" : undefined }, `failed ${calls.failed}`),
      "   ",
      `connected/s ${p.connectedPerS.toFixed(2)}`,
      h(Text, { color: "gray" }, `   bots: connecting ${bots.connecting}, waiting ${bots.waiting}, starting ${bots.starting}`),
    ),
    h(Text, null, `setup p50 ${fmt(p.setupP50Ms, " ms")}  p95 ${fmt(p.setupP95Ms, " ms")}   loss ${fmt(p.lossPct, " %")}`),
    h(
      Text,
      null,
      `last second, per leg: ${fmt(media.kbpsPerLeg, " kbps")}   jitter ${fmt(media.jitterMs, " ms")}   delay ${fmt(media.delayMs, " ms")}   freezes ${media.freezes}`,
    ),
    h(
      Text,
      { color: overloaded ? "red" : "gray" },
      `bot host: CPU ${p.cpuPct} % of one core (${p.cores} cores), event-loop lag p99 ${fmt(p.loopLagMs, " ms")}, ${p.workers} worker(s)`,
      overloaded ? "  — the client is overloaded: figures may reflect it, not the network" : "",
    ),
    p.lastError ? h(Text, { color: "red" }, `last error: ${p.lastError}`) : null,
  );
}

/**
 * Every figure says what one value is (per leg = one direction of one call) and its n. A row
 * marked `measured` is left out when nothing measured it (the ping needs `--data-channel`).
 */
const rows: Array<[string, keyof BotsReport["summary"], string, "measured"?]> = [
  ["join → matched, per leg", "joinToMatchMs", "ms"],
  ["matched → ICE connected, per leg", "iceMs", "ms"],
  ["matched → DTLS connected, per leg", "dtlsMs", "ms"],
  ["matched → first media (setup), per leg", "setupMs", "ms"],
  ["loss, per leg", "legLossPct", "%"],
  ["audio jitter mean (RFC 3550), per leg", "jitterMs", "ms"],
  ["audio jitter p95 of 1 s values, per leg", "jitterP95Ms", "ms"],
  ["one-way delay median, per leg", "oneWayDelayMs", "ms"],
  ["RTT RTCP median, per leg", "rtcpRttMs", "ms"],
  ["RTT ping (data channel), per leg", "rttMs", "ms", "measured"],
  ["payload received, per leg", "payloadKbps", "kbps"],
  ["freezes per minute, per leg", "freezesPerMin", ""],
  ["time frozen, per leg", "frozenPct", "%"],
  ["audio MOS (E-model), per leg", "mos", ""],
];

/** The table printed at the end: counts, p50/p95/max of every figure, the host's verdict, thresholds. */
/** The report as text; an interrupted run (`run.interrupted`) gets no pass/fail verdict. */
export function summaryText(r: BotsReport & { run?: { interrupted: boolean } }): string {
  const s = r.summary;
  const out: string[] = [];
  out.push(
    `calls: ${s.connected}/${s.requested} connected (${s.connectedPct} %), ${s.failed} failed (${s.mediaStopped} media-stopped), ${s.unmatchedBots} bot(s) never matched, ${s.unfinished} still connecting at the end, ${s.bots} bots, ${s.durationS} s`,
  );
  out.push(
    `loss, all packets: ${fmt(s.lossPct, " %")} ${s.lossLabel} (${s.packetsLost} of ${s.packetsExpected} packets; ${s.legsCountedFromPartner} leg(s) counted from the partner's send counter)` +
      (s.lossLabel === "after NACK" ? `; ${fmt(s.rawLossPct, " %")} before retransmission` : ""),
  );
  out.push(`integrity: ${s.duplicates} duplicate(s), ${s.corrupt} corrupt (SRTP authentication failed), ${s.replayed} replayed — none counted as received`);
  const d = s.packetDelayMs;
  out.push(`one-way delay, per packet (n ${d.count}): p50 ${fmt(d.p50, " ms")}, p95 ${fmt(d.p95, " ms")}, p99 ${fmt(d.p99, " ms")}, max ${fmt(d.max, " ms")}`);
  out.push(
    `candidate pairs: ${
      Object.entries(s.candidatePairs)
        .map(([k, v]) => `${k} ×${v}`)
        .join(", ") || "–"
    }; transports: ${
      Object.entries(s.transports)
        .map(([k, v]) => `${k} ×${v}`)
        .join(", ") || "–"
    }`,
  );
  const pad = (t: string, n: number) => t.padEnd(n);
  const num = (t: string, n: number) => t.padStart(n);
  out.push("");
  out.push(`${pad("figure", 46)}${num("p50", 10)}${num("p95", 10)}${num("max", 10)}${num("n", 6)}`);
  for (const [label, key, unit, only] of rows) {
    const d = s[key] as Dist;
    if (only === "measured" && d.count === 0) continue;
    out.push(`${pad(`${label}${unit ? ` (${unit})` : ""}`, 46)}${num(fmt(d.p50), 10)}${num(fmt(d.p95), 10)}${num(fmt(d.max), 10)}${num(String(d.count), 6)}`);
  }
  if (Object.keys(s.failures).length) {
    out.push("");
    out.push("failures (per call):");
    for (const [reason, n] of Object.entries(s.failures)) out.push(`  ×${n}  ${reason}`);
  }
  out.push("");
  const h = r.host;
  // Over worker processes the host block's CPU is the coordinator's; each worker has its line.
  const fleet = (r as Partial<FleetReport>).workers;
  out.push(
    `${fleet ? "coordinator" : "bot host"}: CPU ${h.cpuPct} % of one core on average, ${h.workers} worker(s); event loop per thread: ${h.threads.map((t) => `${t.thread} p99 ${fmt(t.lagP99Ms, " ms")} max ${fmt(t.lagMaxMs, " ms")} stalled ${t.stalledPct} %`).join("; ")}`,
  );
  // A run over worker processes (`--workers N --coordinator|--local`): one line per worker.
  for (const w of fleet ?? []) {
    out.push(
      `  worker ${w.name} (${w.host}, ${w.cores} cores, ${w.bots} bots): ${w.state}, ${w.calls} call(s), CPU ${fmt(w.cpuPct, " %")} of one core, host CPU ${fmt(w.hostCpuPct, " %")}, lag p99 ${fmt(w.loopLagP99Ms, " ms")}, started ${fmt(w.startLagMs, " ms")} after the barrier`,
    );
  }
  if (s.legsHostStalled) out.push(`warning: ${s.legsHostStalled} leg(s) flagged: their receiving thread was stalled for ${overloadPct} % of the call or more`);
  if (h.warning && !h.overloaded) out.push(`warning: ${h.warning}`);
  if (r.invalidReason) out.push(r.invalidReason);
  else if (h.overloaded) out.push(`warning (allowed): ${h.overloaded}`);
  if (r.errors.count) out.push(`errors: ${r.errors.count} (${r.errors.sample.slice(0, 3).join("; ")})`);
  for (const t of r.thresholds) out.push(`${t.ok ? "PASS" : "FAIL"}  ${t.name} ${t.name.startsWith("max") ? "≤" : "≥"} ${t.limit}: ${fmt(t.value)}`);
  out.push(r.run?.interrupted ? "result: none (interrupted)" : r.pass ? "result: pass" : r.valid ? "result: FAIL" : "result: FAIL (invalid run)");
  return out.join("\n") + "\n";
}
