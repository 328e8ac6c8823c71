import { describe, expect, it } from "vitest";
import { callStatsEvent, chatSend, clientEventSchemas, clientEvents, guestBody, limits, lobbyJoin, registerBody, signal } from "./index.ts";

describe("protocol schemas", () => {
  it("normalises interests: trimmed, lower case, deduplicated, capped", () => {
    expect(lobbyJoin.parse({ interests: [" Music", "music", "ART "] })).toEqual({ interests: ["music", "art"] });
    expect(lobbyJoin.safeParse({ interests: Array.from({ length: limits.interestsMax + 1 }, (_, i) => `i${i}`) }).success).toBe(false);
    expect(lobbyJoin.safeParse({ interests: [""] }).success).toBe(false);
  });

  it("refuses control characters in names that other users see", () => {
    expect(guestBody.safeParse({ nickname: "ann\u0007" }).success).toBe(false);
    expect(guestBody.safeParse({ nickname: "ann\u202egnp.exe" }).success).toBe(false);
    expect(guestBody.safeParse({ nickname: "👩\u200d💻 dev" }).success).toBe(true);
    expect(guestBody.parse({ nickname: "  Zoë  " })).toEqual({ nickname: "Zoë" });
  });

  it("a signal carries a description or a candidate; null is end-of-candidates", () => {
    expect(signal.safeParse({ sessionId: "s1" }).success).toBe(false);
    expect(signal.safeParse({ sessionId: "s1", candidate: null }).success).toBe(true);
    expect(signal.safeParse({ sessionId: "s1", description: { type: "offer", sdp: "x".repeat(limits.sdpMax + 1) } }).success).toBe(false);
    expect(signal.safeParse({ sessionId: "../etc", candidate: null }).success).toBe(false);
  });

  it("drops unknown fields instead of relaying them", () => {
    const parsed = signal.parse({ sessionId: "s1", candidate: null, to: "someone-else" });
    expect(parsed).toEqual({ sessionId: "s1", candidate: null });
  });

  it("caps chat text and stats", () => {
    expect(chatSend.safeParse({ sessionId: "s", text: "   " }).success).toBe(false);
    expect(chatSend.safeParse({ sessionId: "s", text: "x".repeat(limits.chatTextMax + 1) }).success).toBe(false);
    const many = Object.fromEntries(Array.from({ length: limits.statsKeysMax + 1 }, (_, i) => [`k${i}`, i]));
    expect(callStatsEvent.safeParse({ sessionId: "s", stats: many }).success).toBe(false);
    expect(callStatsEvent.safeParse({ sessionId: "s", stats: { lossPct: 101 } }).success).toBe(false);
    expect(callStatsEvent.safeParse({ sessionId: "s", stats: { lossPct: 1.5, custom: "x" } }).success).toBe(true);
  });

  it("validates register bodies", () => {
    expect(registerBody.parse({ email: " Ann@Example.ORG ", password: "12345678", nickname: "ann" }).email).toBe("ann@example.org");
    expect(registerBody.safeParse({ email: "ann@example.org", password: "x".repeat(limits.passwordMax + 1), nickname: "a" }).success).toBe(false);
  });

  it("declares a schema for every client event", () => {
    expect(clientEvents.sort()).toEqual(["call:end", "call:next", "call:stats", "chat:send", "chat:typing", "lobby:join", "lobby:leave", "signal"]);
    expect(Object.keys(clientEventSchemas)).toHaveLength(8);
  });
});
