import { describe, expect, it } from "vitest";
import { parseConfig } from "./config.ts";
import { iceFor } from "./ice.ts";

const config = parseConfig({
  jwtSecret: "x".repeat(32),
  turn: { secret: "turn-secret-0123456789", urls: ["turn:127.0.0.1:3478?transport=udp"], ttlSeconds: 600 },
  stunUrls: ["stun:127.0.0.1:3478"],
});
const turnOf = (ice: ReturnType<typeof iceFor>) => ice.iceServers.find((s) => s.username)!;
const t0 = 1_800_000_000_000; // a multiple of 600 s

describe("iceFor", () => {
  it("gives a user one TURN user name per window of ttlSeconds, valid for at least ttlSeconds", () => {
    const early = iceFor(config, "ann", false, t0 + 1_000);
    const late = iceFor(config, "ann", true, t0 + 599_000);
    expect(turnOf(late)).toEqual(turnOf(early));
    expect(turnOf(early).username).toBe(`${t0 / 1000 + 1200}:ann`);
    expect(early.ttlSeconds).toBe(1199);
    expect(late.ttlSeconds).toBe(601);
  });

  it("gives a new user name in the next window and to another user", () => {
    expect(turnOf(iceFor(config, "ann", false, t0 + 600_000)).username).toBe(`${t0 / 1000 + 1800}:ann`);
    expect(turnOf(iceFor(config, "bob", false, t0 + 1_000)).username).toBe(`${t0 / 1000 + 1200}:bob`);
  });

  it("keeps STUN out of relay-only answers", () => {
    expect(iceFor(config, "ann", true, t0).iceServers).toHaveLength(1);
    expect(iceFor(config, "ann", false, t0).iceServers).toHaveLength(2);
  });
});
