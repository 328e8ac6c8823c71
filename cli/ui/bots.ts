/**
 * Ink views of `vchat bots`: the live dashboard and the summary table. They only render
 * props; `bots/run.ts` computes everything. No JSX in Node-side code.
 */
import { Box, Text } from "ink";
import React from "react";
import type { Progress } from "../../bots/run.ts";
import type { BotsReport } from "../../bots/report.ts";
import type { Dist } from "../../bots/metrics.ts";

const h = React.createElement;

/** Event-loop lag (p99) past which the bots' own host, not the network, shapes the figures. */
const overloadedLagMs = 100;

const fmt = (x: number | null | undefined, unit = "") => (x === null || x === undefined ? "–" : `${Math.round(x * 10) / 10}${unit}`);

/** Live figures: calls up, connecting, failed; rates; loss; setup; the bot host's own load. */
export function BotsDashboard(props: { progress: Progress | null; url: string }) {
  const p = props.progress;
  if (!p) return h(Text, null, `vchat bots → ${props.url}: starting…`);
  const c = p.counts;
  const overloaded = p.cpuPct > p.cores * 85 || p.loopLagMs > 50;
  return h(
    Box,
    { flexDirection: "column" },
    h(Text, { bold: true }, `vchat bots → ${props.url}   ${fmt(p.elapsedS)} / ${p.durationS} s`),
    h(
      Text,
      null,
      h(Text, { color: "green" }, `up ${c.up}`),
      "   ",
      h(Text, { color: "yellow" }, `connecting ${c.connecting}`),
      "   ",
      `waiting ${c.waiting}`,
      "   ",
      `starting ${c.starting}`,
      "   ",
      h(Text, { color: c.callsFailed ? "red" : undefined }, `failed ${c.callsFailed}`),
      "   ",
      `done ${c.callsDone}`,
    ),
    h(
      Text,
      null,
      `loss ${fmt(p.lossPct, " %")}   setup p50 ${fmt(p.setupP50Ms, " ms")}  p95 ${fmt(p.setupP95Ms, " ms")}   `,
      `calls/s ${fmt(p.elapsedS > 0 ? (c.callsDone + c.callsFailed + c.up) / p.elapsedS : 0)}`,
    ),
    h(
      Text,
      { color: overloaded ? "red" : "gray" },
      `bot host: CPU ${p.cpuPct} % of ${p.cores * 100} %, event-loop lag p99 ${fmt(p.loopLagMs, " ms")}, ${p.workers} worker(s)`,
      overloaded ? "  — the client is overloaded: figures may reflect it, not the network" : "",
    ),
    c.lastError ? h(Text, { color: "red" }, `last error: ${c.lastError}`) : null,
  );
}

const rows: Array<[string, keyof BotsReport["summary"], string]> = [
  ["join → matched", "joinToMatchMs", "ms"],
  ["matched → ICE connected", "iceMs", "ms"],
  ["matched → DTLS connected", "dtlsMs", "ms"],
  ["matched → first media (setup)", "setupMs", "ms"],
  ["loss per call", "legLossPct", "%"],
  ["jitter", "jitterMs", "ms"],
  ["one-way delay", "oneWayDelayMs", "ms"],
  ["RTT (data channel)", "rttMs", "ms"],
  ["bitrate received", "bitrateKbps", "kbps"],
  ["freezes per call", "freezes", ""],
];

/** The table printed at the end: counts, p50/p95/max of every figure, thresholds. */
export function summaryText(r: BotsReport): string {
  const s = r.summary;
  const out: string[] = [];
  out.push(
    `calls: ${s.connected}/${s.requested} connected (${s.connectedPct} %), ${s.failed} failed, ${s.unmatchedBots} bot(s) never matched, ${s.unfinished} still connecting at the end, ${s.bots} bots, ${s.durationS} s`,
  );
  out.push(`loss: ${fmt(s.lossPct, " %")} (${s.packetsLost} of ${s.packetsExpected} packets)`);
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
  out.push(`${pad("figure", 32)}${num("p50", 10)}${num("p95", 10)}${num("max", 10)}${num("n", 6)}`);
  for (const [label, key, unit] of rows) {
    const d = s[key] as Dist;
    out.push(`${pad(`${label}${unit ? ` (${unit})` : ""}`, 32)}${num(fmt(d.p50), 10)}${num(fmt(d.p95), 10)}${num(fmt(d.max), 10)}${num(String(d.count), 6)}`);
  }
  if (Object.keys(s.failures).length) {
    out.push("");
    out.push("failures:");
    for (const [reason, n] of Object.entries(s.failures)) out.push(`  ×${n}  ${reason}`);
  }
  out.push("");
  out.push(`bot host: CPU ${r.host.cpuPct} % of one core on average, event-loop lag p99 ${fmt(r.host.loopLagP99Ms, " ms")}, ${r.host.workers} worker(s)`);
  if ((r.host.loopLagP99Ms ?? 0) > overloadedLagMs) {
    out.push(
      `warning: the bot host was overloaded (event-loop lag p99 over ${overloadedLagMs} ms): senders ran late and skipped media, so delay, jitter, ` +
        "freezes and bitrate describe this machine, not the network. Run fewer bots per host.",
    );
  }
  if (r.errors.count) out.push(`errors: ${r.errors.count} (${r.errors.sample.slice(0, 3).join("; ")})`);
  for (const t of r.thresholds) out.push(`${t.ok ? "PASS" : "FAIL"}  ${t.name} ${t.name.startsWith("max") ? "≤" : "≥"} ${t.limit}: ${fmt(t.value)}`);
  out.push(r.pass ? "result: pass" : "result: FAIL");
  return out.join("\n") + "\n";
}
