import { describe, expect, it } from "vitest";
import { parseTurnUrl, pickTurnUrl, rewriteTurnUrls, stunUrlOf, turnEndpoints } from "./ice.ts";

const servers = [{ urls: ["stun:127.0.0.1:3478", "turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp", "turns:turn.example.com:5349?transport=tcp"], username: "u", credential: "c" }];

describe("TURN URLs", () => {
  it("parses RFC 7065 URLs with default ports and transports", () => {
    expect(parseTurnUrl("turn:10.0.0.1")).toEqual({ host: "10.0.0.1", port: 3478, transport: "udp" });
    expect(parseTurnUrl("turns:example.com")).toEqual({ host: "example.com", port: 5349, transport: "tls" });
    expect(parseTurnUrl("turn:[::1]:4000?transport=tcp")).toEqual({ host: "::1", port: 4000, transport: "tcp" });
    expect(() => parseTurnUrl("stun:1.2.3.4")).toThrow(/not a TURN URL/);
  });

  it("picks the URL of the asked transport, keeping the credentials", () => {
    expect(pickTurnUrl(servers, "tcp")).toEqual({ url: "turn:127.0.0.1:3478?transport=tcp", server: { urls: "turn:127.0.0.1:3478?transport=tcp", username: "u", credential: "c" } });
    expect(pickTurnUrl(servers, "tls")?.url).toBe("turns:turn.example.com:5349?transport=tcp");
    expect(pickTurnUrl([{ urls: "stun:x" }], "udp")).toBeNull();
  });

  it("rewrites only the endpoints named", () => {
    const out = rewriteTurnUrls(servers, { "udp/127.0.0.1:3478": "127.0.0.1:40000" });
    expect(out[0]!.urls).toEqual(["stun:127.0.0.1:3478", "turn:127.0.0.1:40000?transport=udp", "turn:127.0.0.1:3478?transport=tcp", "turns:turn.example.com:5349?transport=tcp"]);
    expect(out[0]!.credential).toBe("c");
    expect(turnEndpoints(servers).map((e) => `${e.transport}/${e.host}:${e.port}`)).toEqual(["udp/127.0.0.1:3478", "tcp/127.0.0.1:3478", "tls/turn.example.com:5349"]);
  });

  it("uses a UDP TURN server as the STUN server when none is given, as browsers do", () => {
    expect(stunUrlOf(servers)).toBe("stun:127.0.0.1:3478");
    expect(stunUrlOf([{ urls: ["turns:t.example:443?transport=tcp", "turn:203.0.113.20:443?transport=udp"], username: "u", credential: "c" }])).toBe("stun:203.0.113.20:443");
    expect(stunUrlOf([{ urls: "turn:[2001:db8::1]:3478" }])).toBe("stun:[2001:db8::1]:3478");
    expect(stunUrlOf([{ urls: "turn:t.example:3478?transport=tcp" }])).toBeNull();
    expect(stunUrlOf([{ urls: "turn:t.example:3478" }], { fromTurn: false })).toBeNull();
  });
});
