/**
 * Ink views of `vchat up/preview/down/outputs`. They only render props; the commands compute
 * everything. No JSX in Node-side code: `h` is React.createElement.
 */
import { Box, Text } from "ink";
import React from "react";

const h = React.createElement;

export interface PlanNode {
  name: string;
  type: string;
  parent?: string;
  component: boolean;
  settings: string[];
}

export interface PlanViewProps {
  env: string;
  resources: PlanNode[];
  outputs: Record<string, unknown>;
  violations: { rule: string; resource: string; message: string }[];
}

/**
 * The planned resource tree of `vchat preview --offline`, key settings under each resource.
 * @public rendered through the lazy `ui()` import of cli/commands/stacks.ts
 */
export function PlanView(props: PlanViewProps) {
  const children = new Map<string | undefined, PlanNode[]>();
  for (const r of props.resources) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
  const rows: React.ReactNode[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const r of children.get(parent) ?? []) {
      const pad = "  ".repeat(depth);
      rows.push(
        h(
          Text,
          { key: `${r.type}:${r.name}` },
          pad,
          r.component ? h(Text, { bold: true }, `▸ ${r.name}`) : h(Text, null, `+ ${r.name}`),
          h(Text, { dimColor: true }, ` ${shortType(r.type)}`),
        ),
      );
      for (const [i, s] of r.settings.entries()) rows.push(h(Text, { key: `${r.type}:${r.name}:${i}`, color: "gray" }, `${pad}    ${s}`));
      walk(r.name, depth + 1);
    }
  };
  walk(undefined, 0);
  const custom = props.resources.filter((r) => !r.component).length;
  return h(
    Box,
    { flexDirection: "column" },
    h(Text, { bold: true }, `vchat ${props.env}: planned offline on Pulumi mocks (${custom} resources)`),
    ...rows,
    h(Text, null, " "),
    h(Text, { bold: true }, "outputs"),
    ...Object.entries(props.outputs).map(([k, v]) => h(Text, { key: `out:${k}` }, `  ${k}: ${Array.isArray(v) ? v.join(" ") : String(v)}`)),
    h(Text, null, " "),
    props.violations.length === 0
      ? h(Text, { color: "green" }, "security rules: all passed")
      : h(
          Box,
          { flexDirection: "column" },
          h(Text, { color: "red", bold: true }, `security rules: ${props.violations.length} violation(s)`),
          ...props.violations.map((v, i) => h(Text, { key: `v${i}`, color: "red" }, `  ${v.rule} on ${v.resource}: ${v.message}`)),
        ),
  );
}

export interface ProgressRow {
  urn: string;
  name: string;
  type: string;
  depth: number;
  op: string;
  status: "running" | "done" | "failed";
  durationMs?: number;
}

export interface ProgressViewProps {
  title: string;
  rows: ProgressRow[];
  messages: { severity: string; text: string }[];
  summary?: { changes: Record<string, number>; durationSeconds?: number };
  cancelling?: boolean;
}

const statusMark = { running: "…", done: "✔", failed: "✘" } as const;
const statusColor = { running: "yellow", done: "green", failed: "red" } as const;

/**
 * The live progress tree of `vchat up/preview/down`: resource, operation, status, duration.
 * @public rendered through the lazy `ui()` import of cli/commands/stacks.ts
 */
export function ProgressView(props: ProgressViewProps) {
  return h(
    Box,
    { flexDirection: "column" },
    h(Text, { bold: true }, props.title),
    ...props.rows.map((r) =>
      h(
        Text,
        { key: r.urn },
        "  ".repeat(r.depth + 1),
        h(Text, { color: statusColor[r.status] }, statusMark[r.status]),
        ` ${r.name} `,
        h(Text, { dimColor: true }, shortType(r.type)),
        ` ${r.op}`,
        r.durationMs !== undefined ? h(Text, { dimColor: true }, ` ${formatMs(r.durationMs)}`) : null,
      ),
    ),
    ...props.messages.map((m, i) =>
      h(Text, { key: `m${i}`, color: m.severity === "error" ? "red" : m.severity === "warning" ? "yellow" : undefined }, `${m.severity}: ${m.text}`),
    ),
    props.cancelling ? h(Text, { color: "yellow" }, "cancelling… (the engine finishes the steps in flight)") : null,
    props.summary
      ? h(
          Text,
          { bold: true },
          `changes: ${formatChanges(props.summary.changes)}${props.summary.durationSeconds !== undefined ? ` in ${props.summary.durationSeconds}s` : ""}`,
        )
      : null,
  );
}

export interface OutputsViewProps {
  env: string;
  outputs: Record<string, { value: unknown; secret: boolean }>;
}

/** @public rendered through the lazy `ui()` import of cli/commands/stacks.ts */
export function OutputsView(props: OutputsViewProps) {
  const entries = Object.entries(props.outputs);
  const width = Math.max(0, ...entries.map(([k]) => k.length));
  return h(
    Box,
    { flexDirection: "column" },
    h(Text, { bold: true }, `vchat ${props.env} outputs`),
    ...entries.map(([k, o]) =>
      h(
        Text,
        { key: k },
        `  ${k.padEnd(width)}  `,
        o.secret ? h(Text, { dimColor: true }, String(o.value)) : h(Text, null, Array.isArray(o.value) ? o.value.join(" ") : String(o.value)),
      ),
    ),
  );
}

export function formatChanges(changes: Record<string, number>): string {
  const parts = Object.entries(changes)
    .filter(([, n]) => n > 0)
    .map(([op, n]) => `${n} ${op}`);
  return parts.length ? parts.join(", ") : "none";
}

function shortType(type: string): string {
  return type.split(":").pop() ?? type;
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}
