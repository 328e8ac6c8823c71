/** The status block of `vchat dev` on a terminal, and its one-line form for logs. Renders props only. */
import { Box, Text } from "ink";
import React from "react";
import type { ServiceStatus } from "../../server/status.ts";

const h = React.createElement;

export function statusLine(s: ServiceStatus): string {
  return `users online ${s.usersOnline}, waiting ${s.waiting}, calls in progress ${s.callsInProgress} (relayed ${s.relayedCalls}), matches/min ${s.matchesPerMin}, errors ${s.errors}`;
}

export function DevStatus(props: { status: ServiceStatus | null }) {
  const s = props.status;
  if (!s) return h(Text, { color: "gray" }, "status: starting…");
  return h(
    Box,
    { flexDirection: "column", alignSelf: "flex-start", borderStyle: "round", paddingX: 1 },
    h(Text, null, h(Text, { color: "green" }, `users online ${s.usersOnline}`), "   ", `waiting ${s.waiting}`),
    h(
      Text,
      null,
      h(Text, { bold: true }, `calls in progress ${s.callsInProgress}`),
      "   ",
      `relayed ${s.relayedCalls}`,
      "   ",
      `matches/min ${s.matchesPerMin}`,
    ),
    h(Text, { color: s.errors ? "red" : "gray" }, `errors ${s.errors}`),
  );
}
