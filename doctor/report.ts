/** The shapes `vchat doctor` reports: one entry per check, then a summary verdict. */

export const checkStatuses = ["pending", "running", "pass", "warn", "fail", "skipped"] as const;
export type CheckStatus = (typeof checkStatuses)[number];

export const checkIds = ["api-health", "api-socket", "api-ice", "dns", "stun", "turn-udp", "turn-tcp", "turn-tls", "relay", "call", "nat", "exposure"] as const;
export type CheckId = (typeof checkIds)[number];

export const checkTitles: Record<CheckId, string> = {
  "api-health": "API health (healthz, readyz)",
  "api-socket": "WebSocket connect and auth",
  "api-ice": "ICE configuration (/api/ice)",
  dns: "DNS and reachability of STUN/TURN URLs",
  stun: "STUN binding",
  "turn-udp": "TURN allocation over UDP",
  "turn-tcp": "TURN allocation over TCP",
  "turn-tls": "TURN allocation over TLS",
  relay: "Round trip through the relay",
  call: "Relay-only call between two peers",
  nat: "NAT behaviour (RFC 5780)",
  exposure: "TURN security exposure",
};

export interface CheckResult {
  id: CheckId;
  title: string;
  status: CheckStatus;
  /** One line a non-expert understands. */
  verdict: string;
  ms?: number;
  /** Machine-readable findings (addresses, timings, codes). */
  details?: Record<string, unknown>;
}

export const summaryVerdicts = ["direct-likely", "turn-required", "udp-blocked", "broken"] as const;
export type SummaryVerdict = (typeof summaryVerdicts)[number];

export const summaryTexts: Record<SummaryVerdict, string> = {
  "direct-likely": "direct calls likely",
  "turn-required": "TURN required",
  "udp-blocked": "UDP blocked: use TURN over TCP or TLS on 443",
  broken: "broken",
};

export interface Summary {
  verdict: SummaryVerdict;
  text: string;
  reason: string;
}

export interface DoctorReport {
  target: string;
  startedAt: string;
  ms: number;
  checks: CheckResult[];
  summary: Summary;
  /** 0 when everything calls need works, 1 when something is broken. */
  exitCode: 0 | 1;
}
