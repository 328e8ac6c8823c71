/**
 * Ink view of `vchat doctor`: a checklist that fills in live, then the summary verdict. It only
 * renders props. No JSX in Node-side code: `h` is React.createElement.
 */
import { Box, Text } from "ink";
import React from "react";
import type { CheckResult, CheckStatus, Summary } from "../../doctor/report.ts";

const h = React.createElement;

export interface DoctorViewProps {
  target: string;
  checks: CheckResult[];
  summary?: Summary;
  ms?: number;
}

const marks: Record<CheckStatus, { mark: string; color: string }> = {
  pending: { mark: "·", color: "gray" },
  running: { mark: "…", color: "cyan" },
  pass: { mark: "✔", color: "green" },
  warn: { mark: "!", color: "yellow" },
  fail: { mark: "✖", color: "red" },
  skipped: { mark: "○", color: "gray" },
};

const summaryColors = { "direct-likely": "green", "turn-required": "yellow", "udp-blocked": "yellow", broken: "red" } as const;

export function DoctorView(props: DoctorViewProps) {
  const width = Math.max(...props.checks.map((c) => c.title.length));
  return h(
    Box,
    { flexDirection: "column" },
    h(Text, { bold: true }, `vchat doctor ${props.target}`),
    ...props.checks.map((c) => {
      const m = marks[c.status];
      const time = c.ms === undefined || c.status === "skipped" ? "" : `${c.ms} ms`;
      return h(
        Box,
        { key: c.id, flexDirection: "row" },
        h(Box, { width: 2, flexShrink: 0 }, h(Text, { color: m.color }, m.mark)),
        h(Box, { width: width + 1, flexShrink: 0 }, h(Text, { dimColor: c.status === "skipped" || c.status === "pending" }, c.title)),
        h(Box, { width: 9, flexShrink: 0 }, h(Text, { color: "gray" }, time.padStart(7))),
        h(
          Box,
          { flexGrow: 1, flexShrink: 1 },
          h(
            Text,
            { color: c.status === "fail" ? "red" : c.status === "warn" ? "yellow" : undefined, dimColor: c.status === "skipped" },
            c.status === "skipped" ? `skipped: ${c.verdict}` : c.verdict,
          ),
        ),
      );
    }),
    props.summary
      ? h(
          Box,
          { marginTop: 1, flexDirection: "column" },
          h(Text, { bold: true, color: summaryColors[props.summary.verdict] }, `Verdict: ${props.summary.text}`),
          h(Text, null, `  ${props.summary.reason}`),
          props.ms === undefined ? null : h(Text, { color: "gray" }, `  finished in ${(props.ms / 1000).toFixed(1)} s`),
        )
      : null,
  );
}
