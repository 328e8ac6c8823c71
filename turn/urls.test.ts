import { describe, expect, it } from "vitest";
import { IceUrlError, parseIceUrl } from "./urls.ts";

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
});
