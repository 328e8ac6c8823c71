/**
 * `vchat bots --html FILE`: one self-contained page (inline CSS and SVG, no script, nothing
 * fetched at view time) with the run block, the summary, the thresholds and charts over time.
 */
import type { BotsReport } from "../../bots/report.ts";
import type { Progress } from "../../bots/run.ts";

const esc = (v: unknown) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const palette = ["#36c", "#c63", "#2a7", "#a3c", "#c90", "#099", "#d33", "#777"];

interface Series {
  label: string;
  colour: string;
  values: (number | null)[];
}

/** A line chart over the run's seconds; `data-points` says how many samples it drew (for tests). */
function chart(id: string, title: string, unit: string, t: number[], series: Series[]): string {
  const w = 560;
  const h = 160;
  const pad = 32;
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const max = Math.max(1, ...all);
  const tMax = Math.max(1, ...t);
  const x = (s: number) => pad + (s / tMax) * (w - 2 * pad);
  const y = (v: number) => h - pad + 8 - (v / max) * (h - 2 * pad);
  const lines = series
    .map((s) => {
      const pts = s.values.flatMap((v, i) => (v === null ? [] : [`${x(t[i]!).toFixed(1)},${y(v).toFixed(1)}`]));
      return `<polyline data-series="${esc(s.label)}" data-points="${pts.length}" fill="none" stroke="${s.colour}" stroke-width="2" points="${pts.join(" ")}"/>`;
    })
    .join("");
  const legend = series.map((s) => `<span style="color:${s.colour}">■ ${esc(s.label)}</span>`).join(" ");
  return `<figure id="${id}"><figcaption>${esc(title)} <small>(${esc(unit)}, max ${max})</small> ${legend}</figcaption>
<svg data-chart="${id}" data-max="${max}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(title)}">
<line x1="${pad}" y1="${h - pad + 8}" x2="${w - pad}" y2="${h - pad + 8}" stroke="#999"/><line x1="${pad}" y1="8" x2="${pad}" y2="${h - pad + 8}" stroke="#999"/>
<text x="${pad}" y="${h - 4}" font-size="10">0 s</text><text x="${w - pad}" y="${h - 4}" font-size="10" text-anchor="end">${tMax} s</text>
<text x="2" y="16" font-size="10">${max}</text>${lines}</svg></figure>`;
}

export function botsHtml(report: BotsReport & { run: object }, timeline: Progress[]): string {
  const run = report.run as Record<string, unknown>;
  const t = timeline.map((p) => p.elapsedS);
  const s = report.summary as unknown as Record<string, unknown>;
  const rows = (o: Record<string, unknown>) =>
    Object.entries(o)
      .filter(([, v]) => v === null || typeof v !== "object")
      .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v ?? "–")}</td></tr>`)
      .join("");
  const thresholds = report.thresholds
    .map(
      (th) =>
        `<tr class="${th.ok ? "ok" : "fail"}"><td>${th.ok ? "pass" : "FAIL"}</td><td>${esc(th.name)}</td><td>${esc(th.limit)}</td><td>${esc(th.value ?? "–")}</td></tr>`,
    )
    .join("");
  // One series per thread seen (main, each worker, a fleet's workers): their load is the host's verdict.
  const threadNames = [...new Set(timeline.flatMap((p) => p.threads.map((th) => th.worker)))];
  const perThread = (f: (th: Progress["threads"][number]) => number | null) =>
    threadNames.map((name, i) => ({
      label: name,
      colour: palette[i % palette.length]!,
      values: timeline.map((p) => {
        const th = p.threads.find((x) => x.worker === name);
        return th ? f(th) : null;
      }),
    }));
  const charts = [
    chart("calls", "calls up, connected and failed so far", "calls", t, [
      { label: "up", colour: "#2a7", values: timeline.map((p) => p.calls.up) },
      { label: "connected", colour: "#36c", values: timeline.map((p) => p.calls.connected) },
      { label: "failed", colour: "#d33", values: timeline.map((p) => p.calls.failed) },
    ]),
    chart("setup", "setup (match → first media), calls connected so far", "ms", t, [
      { label: "p50", colour: "#36c", values: timeline.map((p) => p.setupP50Ms) },
      { label: "p95", colour: "#c63", values: timeline.map((p) => p.setupP95Ms) },
    ]),
    chart("loss", "media loss so far", "%", t, [{ label: "loss", colour: "#a3c", values: timeline.map((p) => p.lossPct) }]),
    chart("bitrate", "payload received per leg, each second", "kbps", t, [{ label: "kbps", colour: "#2a7", values: timeline.map((p) => p.media.kbpsPerLeg) }]),
    chart("jitter", "audio jitter (RFC 3550), mean of the legs up", "ms", t, [
      { label: "jitter", colour: "#c63", values: timeline.map((p) => p.media.jitterMs) },
    ]),
    chart("delay", "one-way delay, mean of each second's packets", "ms", t, [{ label: "delay", colour: "#36c", values: timeline.map((p) => p.media.delayMs) }]),
    chart("freezes", "video freezes, each second", "freezes", t, [{ label: "freezes", colour: "#d33", values: timeline.map((p) => p.media.freezes) }]),
    chart("cpu", "bot host CPU, whole process and per thread", "% of one core", t, [
      { label: "process", colour: "#555", values: timeline.map((p) => p.cpuPct) },
      ...(threadNames.length > 1 ? perThread((th) => th.cpuPct) : []),
    ]),
    chart(
      "lag",
      "bot host event-loop lag p99, per thread",
      "ms",
      t,
      perThread((th) => th.loopLagMs),
    ),
  ];
  // Ctrl-C'd: the figures are partial, whatever they say.
  const verdict = run.interrupted ? "interrupted" : report.pass ? "pass" : report.valid ? "FAIL" : "invalid";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>vchat bots: ${esc(verdict)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ddd;padding:2px 8px;text-align:left}
.ok td:first-child{color:#2a7}.fail td:first-child{color:#d33;font-weight:bold}figure{display:inline-block;margin:1em 1em 0 0}h1 .v{padding:0 .3em;color:#fff;background:${verdict === "pass" ? "#2a7" : "#d33"}}</style></head>
<body><h1>vchat bots <span class="v" id="verdict">${esc(verdict)}</span></h1>
<h2>Run</h2><table id="run">${rows(run)}<tr><th>options</th><td><code>${esc(JSON.stringify(run.options))}</code></td></tr></table>
<h2>Summary</h2><table id="summary">${rows(s)}</table>
<h2>Thresholds</h2><table id="thresholds"><tr><th></th><th>threshold</th><th>limit</th><th>value</th></tr>${thresholds}</table>
<h2>Over time</h2>${charts.join("\n")}
</body></html>
`;
}
