/** The one-line answer to "will calls work from here?", from the checks' results. */
import { summaryTexts, type CheckId, type CheckResult, type Summary, type SummaryVerdict } from "./report.ts";

export function summarize(checks: CheckResult[]): Summary {
  const by = new Map(checks.map((c) => [c.id, c]));
  const get = (id: CheckId) => by.get(id);
  const ok = (id: CheckId) => ["pass", "warn"].includes(get(id)?.status ?? "");
  const failed = (id: CheckId) => get(id)?.status === "fail";
  const out = (verdict: SummaryVerdict, reason: string): Summary => ({ verdict, text: summaryTexts[verdict], reason });

  for (const id of ["api-health", "api-socket", "api-ice"] as const) {
    if (failed(id)) return out("broken", get(id)!.verdict);
  }
  const turns = (["turn-udp", "turn-tcp", "turn-tls"] as const).filter((id) => get(id) && get(id)!.status !== "skipped");
  const anyTurn = turns.some(ok);
  if (turns.length > 0 && !anyTurn) {
    const first = get(turns[0]!)!;
    const auth = turns.map(get).find((c) => c?.details?.category === "authentication");
    return out("broken", `no TURN transport works: ${(auth ?? first).verdict}`);
  }
  if (turns.length === 0 && !ok("stun")) return out("broken", get("stun")?.verdict || get("dns")?.verdict || "no STUN/TURN server to test");
  if (failed("call")) return out("broken", `a relay-only call fails: ${get("call")!.verdict}`);

  const udpDown = failed("turn-udp") || failed("stun");
  const tcpUp = ok("turn-tcp") || ok("turn-tls");
  if (udpDown && tcpUp) {
    const via = ok("turn-tls") ? "TURN over TLS (turns:, ideally on port 443)" : "TURN over TCP";
    return out("udp-blocked", `UDP to the server does not work from here, ${via} does: clients on this network need it in their ICE configuration`);
  }
  if (udpDown && !anyTurn) return out("broken", get("stun")!.verdict);

  const nat = get("nat");
  const mapping = nat?.details?.mapping as string | undefined;
  if (mapping && mapping !== "endpoint-independent")
    return out("turn-required", `${mapping.replace(/-/g, " ")} mapping (a symmetric NAT): peers cannot reach you directly; calls need TURN`);
  if (mapping === "endpoint-independent") {
    const filtering = nat?.details?.filtering as string;
    const natted = nat?.details?.nat ? "behind a NAT with" : "no NAT;";
    return out(
      "direct-likely",
      `${natted} endpoint-independent mapping, ${filtering.replace(/-/g, " ")} filtering: direct calls should connect; TURN stays as fallback`,
    );
  }
  const behindNat = get("stun")?.details?.behindNat;
  if (behindNat === false) return out("direct-likely", "no NAT between you and the server: direct calls should connect");
  return out("turn-required", `behind a NAT whose behaviour could not be measured (${nat?.verdict ?? "no RFC 5780 test"}): keep TURN available for calls`);
}

/** 0 when everything calls need works, 1 when something is broken or a check failed. */
export function exitCodeOf(checks: CheckResult[], summary: Summary): 0 | 1 {
  return summary.verdict === "broken" || checks.some((c) => c.status === "fail") ? 1 : 0;
}
