import { describe, expect, it } from "vitest";
import { checkIds, checkTitles, type CheckId, type CheckResult, type CheckStatus } from "./report.ts";
import { exitCodeOf, summarize } from "./summary.ts";

function checks(over: Partial<Record<CheckId, { status: CheckStatus; details?: Record<string, unknown>; verdict?: string }>>): CheckResult[] {
  return checkIds.map((id) => ({ id, title: checkTitles[id], status: "skipped", verdict: `${id} verdict`, ...over[id] }));
}

describe("summary verdict", () => {
  it("direct calls likely with endpoint-independent mapping", () => {
    const c = checks({
      stun: { status: "pass", details: { behindNat: true } },
      "turn-udp": { status: "pass" },
      nat: { status: "pass", details: { nat: true, mapping: "endpoint-independent", filtering: "address-dependent" } },
    });
    const s = summarize(c);
    expect(s.verdict).toBe("direct-likely");
    expect(s.reason).toMatch(/behind a NAT with endpoint-independent mapping, address dependent filtering/);
    expect(exitCodeOf(c, s)).toBe(0);
  });

  it("TURN required behind a symmetric NAT", () => {
    const s = summarize(
      checks({ stun: { status: "pass" }, "turn-udp": { status: "pass" }, nat: { status: "warn", details: { mapping: "address-and-port-dependent" } } }),
    );
    expect(s.verdict).toBe("turn-required");
    expect(s.reason).toMatch(/symmetric NAT/);
  });

  it("TURN required behind a NAT that could not be measured", () => {
    const s = summarize(checks({ stun: { status: "pass", details: { behindNat: true } }, "turn-udp": { status: "pass" } }));
    expect(s.verdict).toBe("turn-required");
  });

  it("UDP blocked: names TLS when TLS works", () => {
    const c = checks({ stun: { status: "fail" }, "turn-udp": { status: "fail" }, "turn-tcp": { status: "fail" }, "turn-tls": { status: "warn" } });
    const s = summarize(c);
    expect(s.verdict).toBe("udp-blocked");
    expect(s.reason).toMatch(/TURN over TLS/);
    expect(exitCodeOf(c, s)).toBe(1);
  });

  it("broken when the API fails, naming it", () => {
    const s = summarize(checks({ "api-health": { status: "fail", verdict: "the API does not answer" }, "turn-udp": { status: "pass" } }));
    expect(s).toMatchObject({ verdict: "broken", reason: "the API does not answer" });
  });

  it("broken when no TURN transport works, preferring the authentication reason", () => {
    const s = summarize(
      checks({
        "turn-udp": { status: "fail", verdict: "no answer" },
        "turn-tcp": { status: "fail", verdict: "authentication failed: wrong", details: { category: "authentication" } },
      }),
    );
    expect(s.verdict).toBe("broken");
    expect(s.reason).toMatch(/authentication failed/);
  });

  it("a failed security check alone exits 1 without changing the call verdict", () => {
    const c = checks({ stun: { status: "pass", details: { behindNat: false } }, "turn-udp": { status: "pass" }, exposure: { status: "fail" } });
    const s = summarize(c);
    expect(s.verdict).toBe("direct-likely");
    expect(exitCodeOf(c, s)).toBe(1);
  });
});
