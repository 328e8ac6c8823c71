import { describe, expect, it } from "vitest";
import { formatTurnUrl, IceUrlError, iceUrlProblem, iceUrlSchema, parseIceUrl } from "./urls.ts";

describe("STUN/TURN URLs (RFC 7064, RFC 7065)", () => {
  it.each([
    ["turn:turn.example.com", { scheme: "turn", host: "turn.example.com", port: 3478, transport: "udp", isTurn: true }],
    ["turn:turn.example.com:3479?transport=tcp", { host: "turn.example.com", port: 3479, transport: "tcp" }],
    ["turns:turn.example.com:443?transport=tcp", { scheme: "turns", port: 443, transport: "tls" }],
    ["turns:turn.example.com", { port: 5349, transport: "tls" }],
    ["stun:127.0.0.1:19302", { scheme: "stun", host: "127.0.0.1", port: 19302, transport: "udp", isTurn: false }],
    ["turn:[::1]:3478?transport=udp", { host: "::1", port: 3478, transport: "udp" }],
    ["TURN:Example.com", { scheme: "turn", host: "Example.com" }],
  ])("%s", (raw, expected) => {
    expect(parseIceUrl(raw)).toMatchObject(expected);
  });

  it.each(["http://x", "turn:", "turn:host:99999", "turns:host?transport=udp", "turn:host?transport=sctp", "turn:host/path"])("rejects %s", (raw) => {
    expect(() => parseIceUrl(raw)).toThrow(IceUrlError);
    try {
      parseIceUrl(raw);
    } catch (e) {
      expect((e as IceUrlError).code).toBe("BAD_ICE_URL");
    }
  });

  it.each([
    ["::1", 3478, "udp", "turn:[::1]:3478?transport=udp"],
    ["turn.example.com", 5349, "tls", "turns:turn.example.com:5349?transport=tcp"],
    ["10.0.0.1", 3479, "tcp", "turn:10.0.0.1:3479?transport=tcp"],
  ] as const)("formats %s:%s over %s as a URL that parses back", (host, port, transport, url) => {
    expect(formatTurnUrl(host, port, transport)).toBe(url);
    expect(parseIceUrl(url)).toMatchObject({ host, port, transport, isTurn: true });
  });

  it("a configuration field takes only URLs of its kind, saying why", () => {
    expect(iceUrlSchema("turn").parse("turn:a:3478")).toBe("turn:a:3478");
    expect(iceUrlProblem("stun:a", "turn")).toMatch(/STUN URL, not a TURN one/);
    expect(iceUrlSchema("stun").safeParse("turn:a").error?.issues[0]?.message).toMatch(/TURN URL, not a STUN one/);
    expect(iceUrlSchema("turn").safeParse("turn:a/b").error?.issues[0]?.message).toMatch(/not a STUN\/TURN URL/);
  });
});
