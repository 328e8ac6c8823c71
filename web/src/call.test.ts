import { describe, expect, it } from "vitest";
import { readStats } from "./call.ts";

/** A getStats() report as Chromium shapes it, from plain stats objects. */
function report(...stats: Array<Record<string, unknown> & { id: string; type: string }>): Map<string, Record<string, unknown>> {
  return new Map(stats.map((s) => [s.id, s]));
}

const cand = (id: string, candidateType: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: id.startsWith("L") ? "local-candidate" : "remote-candidate",
  candidateType,
  protocol: "udp",
  ...extra,
});

describe("readStats: direct or relayed from the selected candidate pair", () => {
  it("reads a relayed call from the transport's selected pair, with the protocol used to reach TURN", () => {
    const { route, stats } = readStats(
      report(
        { id: "T", type: "transport", selectedCandidatePairId: "P1" },
        // A second, unselected pair must not decide.
        { id: "P0", type: "candidate-pair", localCandidateId: "L0", remoteCandidateId: "R0", nominated: true, state: "succeeded" },
        { id: "P1", type: "candidate-pair", localCandidateId: "L1", remoteCandidateId: "R1", currentRoundTripTime: 0.0123 },
        cand("L0", "host"),
        cand("R0", "host"),
        cand("L1", "relay", { relayProtocol: "tcp" }),
        cand("R1", "relay"),
      ),
    );
    expect(route).toEqual({ kind: "relayed", local: "relay", remote: "relay", protocol: "tcp" });
    expect(stats).toMatchObject({ localCandidateType: "relay", remoteCandidateType: "relay", transport: "tcp", rttMs: 12 });
  });

  it("calls host/srflx pairs direct, and a pair is relayed when only the peer's end is a relay", () => {
    const direct = readStats(
      report(
        { id: "T", type: "transport", selectedCandidatePairId: "P" },
        { id: "P", type: "candidate-pair", localCandidateId: "L", remoteCandidateId: "R" },
        cand("L", "host"),
        cand("R", "srflx"),
      ),
    );
    expect(direct.route).toMatchObject({ kind: "direct", local: "host", remote: "srflx", protocol: "udp" });
    const half = readStats(
      report(
        { id: "T", type: "transport", selectedCandidatePairId: "P" },
        { id: "P", type: "candidate-pair", localCandidateId: "L", remoteCandidateId: "R" },
        cand("L", "prflx"),
        cand("R", "relay"),
      ),
    );
    expect(half.route?.kind).toBe("relayed");
  });

  it("falls back to the nominated succeeded pair when the transport names none (Firefox)", () => {
    const { route } = readStats(
      report(
        { id: "P0", type: "candidate-pair", localCandidateId: "L0", remoteCandidateId: "R0", nominated: false, state: "succeeded" },
        { id: "P1", type: "candidate-pair", localCandidateId: "L1", remoteCandidateId: "R1", nominated: true, state: "succeeded" },
        cand("L0", "host"),
        cand("R0", "host"),
        cand("L1", "relay"),
        cand("R1", "host"),
      ),
    );
    expect(route?.kind).toBe("relayed");
  });

  it("has no route before ICE picked a pair, and sums receive counters with loss in percent", () => {
    const { route, stats } = readStats(
      report(
        { id: "T", type: "transport" },
        { id: "A", type: "inbound-rtp", kind: "audio", packetsReceived: 150, packetsLost: 0, bytesReceived: 1000 },
        { id: "V", type: "inbound-rtp", kind: "video", packetsReceived: 48, packetsLost: 2, bytesReceived: 5000, framesDecoded: 30, jitter: 0.004 },
        { id: "O", type: "outbound-rtp", kind: "video", bytesSent: 777 },
      ),
    );
    expect(route).toBeNull();
    expect(stats).toMatchObject({ framesDecoded: 30, packetsReceived: 198, packetsLost: 2, bytesReceived: 6000, bytesSent: 777, jitterMs: 4, lossPct: 1 });
  });

  it("ignores a pair whose candidates are missing or of an unknown type", () => {
    const { route } = readStats(
      report(
        { id: "T", type: "transport", selectedCandidatePairId: "P" },
        { id: "P", type: "candidate-pair", localCandidateId: "L", remoteCandidateId: "gone" },
        cand("L", "host"),
      ),
    );
    expect(route).toBeNull();
  });
});
