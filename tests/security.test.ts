import fc from "fast-check";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientEvents, errorCodes, limits, send, type MatchFound } from "../protocol/index.ts";
import type { DevServer } from "../server/dev.ts";
import { api, next, rawRequest, record, request, socketFor, user, type TestUser } from "./support/client.ts";
import { until } from "./support/crowd.ts";
import { testDev } from "./support/dev.ts";

let dev: DevServer;
beforeAll(async () => {
  dev = await testDev({ config: { tuning: { eventsPerSecond: 10_000 } } });
});
afterAll(() => dev?.stop());

const sign = (payload: object, secret: string, opts: jwt.SignOptions = {}) =>
  jwt.sign({ nickname: "mallory", kind: "guest", ...payload }, secret, { algorithm: "HS256", issuer: "vchat", subject: "mallory", ...opts });

/** Tokens that must never be accepted. */
function badTokens(): Record<string, string | undefined> {
  const secret = dev.config.jwtSecret;
  const header = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return {
    missing: undefined,
    empty: "",
    garbage: "not-a-token",
    forged: sign({}, "another-secret-that-is-long-enough-0000"),
    expired: sign({ exp: Math.floor(Date.now() / 1000) - 60 }, secret),
    "alg none": `${header({ alg: "none", typ: "JWT" })}.${header({ sub: "mallory", nickname: "m", kind: "guest", iss: "vchat" })}.`,
    "HS512 (not pinned)": jwt.sign({ nickname: "m", kind: "guest" }, secret, { algorithm: "HS512", issuer: "vchat", subject: "m" }),
    "wrong issuer": sign({}, secret, { issuer: "elsewhere" }),
  };
}

describe("tokens", () => {
  it.each(["/api/me", "/api/ice", "/api/sessions"])("REST %s refuses missing, forged, expired and alg:none tokens", async (path) => {
    for (const [kind, token] of Object.entries(badTokens())) {
      const res = await api(dev.url, path, { token });
      expect(res.status, kind).toBe(401);
      expect(res.body, kind).toMatchObject({ error: { code: "UNAUTHENTICATED" } });
    }
  });

  it("Socket.IO refuses the same tokens at connect", async () => {
    for (const [kind, token] of Object.entries(badTokens())) {
      const socket = socketFor(dev.url, token);
      const err = await new Promise<Error & { data?: { code: string } }>((resolve, reject) => {
        socket.once("connect", () => reject(new Error(`${kind}: connected`)));
        socket.once("connect_error", resolve);
      });
      socket.disconnect();
      expect(err.data?.code, kind).toBe("UNAUTHENTICATED");
    }
  });

  it("accepts a fresh token and tells expired apart in the message", async () => {
    const { token } = await (await import("./support/client.ts")).guest(dev.url, "ok");
    expect((await api(dev.url, "/api/me", { token })).status).toBe(200);
    const expired = await api(dev.url, "/api/me", { token: badTokens().expired });
    expect(expired.body).toMatchObject({ error: { message: "the token has expired" } });
  });
});

describe("session isolation", () => {
  let a: TestUser, b: TestUser, outsider: TestUser;
  let found: MatchFound;
  beforeAll(async () => {
    [a, b, outsider] = await Promise.all([user(dev.url, "a"), user(dev.url, "b"), user(dev.url, "eve")]);
    const fa = next(a.socket, "match:found");
    await request(a.socket, "lobby:join", {});
    await request(b.socket, "lobby:join", {});
    found = await fa;
  });
  afterAll(() => [a, b, outsider].forEach((u) => u.socket.disconnect()));

  it("a socket outside a session can send nothing into it", async () => {
    const inbox = [a, b].flatMap((u) => [
      record(u.socket, "signal"),
      record(u.socket, "chat:message"),
      record(u.socket, "chat:typing"),
      record(u.socket, "call:ended"),
    ]);
    const sessionId = found.sessionId;
    const attempts: [string, object][] = [
      ["signal", { sessionId, description: { type: "offer", sdp: "v=0" } }],
      ["signal", { sessionId, candidate: { candidate: "candidate:1 1 udp 1 10.0.0.1 1 typ host" } }],
      ["chat:send", { sessionId, text: "hi from outside" }],
      ["chat:typing", { sessionId, typing: true }],
      ["call:next", { sessionId }],
      ["call:end", { sessionId }],
      ["call:stats", { sessionId, stats: { lossPct: 99 } }],
    ];
    for (const [event, payload] of attempts) {
      const res = await rawRequest(outsider.socket, event, payload);
      expect(res, event).toMatchObject({ ok: false, error: { code: "NOT_IN_SESSION" } });
    }
    // Without an ack the refusal arrives as an `error` event.
    const err = next(outsider.socket, "error");
    send(outsider.socket, "signal", { sessionId, candidate: null });
    expect(await err).toMatchObject({ code: "NOT_IN_SESSION" });
    // The call itself still works, and a signal each way through it is the barrier: anything the
    // outsider's events had relayed (before they were answered) would have arrived before it.
    const got = next(b.socket, "signal");
    await request(a.socket, "signal", { sessionId, candidate: null });
    expect(await got).toEqual({ sessionId, candidate: null });
    const back = next(a.socket, "signal");
    await request(b.socket, "signal", { sessionId, candidate: null });
    await back;
    // a's and b's inboxes: one signal each (the barrier), no chat, typing or end.
    expect(inbox.map((box) => box.length)).toEqual([1, 0, 0, 0, 1, 0, 0, 0]);
  });
});

/** Payloads for every client event: random JSON, valid shapes with one field broken, oversized fields. */
function payloadArb(sessionId: string) {
  const big = (n: number) => fc.constant("x".repeat(n));
  const anyValue = fc.oneof(fc.anything({ maxDepth: 3 }), fc.string({ maxLength: 64 }), big(limits.sdpMax + 1), fc.constant(null), fc.integer());
  const shapes = [
    { interests: ["music"], relayOnly: false },
    { sessionId, description: { type: "offer", sdp: "v=0" } },
    { sessionId, candidate: { candidate: "candidate:1", sdpMid: "0", sdpMLineIndex: 0 } },
    { sessionId, text: "hello" },
    { sessionId, typing: true },
    { sessionId, stats: { lossPct: 1 } },
  ];
  const broken = fc
    .tuple(
      fc.constantFrom(...shapes),
      anyValue,
      fc.constantFrom("sessionId", "description", "candidate", "text", "typing", "stats", "interests", "relayOnly", "sdp"),
    )
    .map(([shape, value, key]) => {
      const copy: Record<string, unknown> = structuredClone(shape);
      if (key === "sdp" && copy.description) (copy.description as Record<string, unknown>).sdp = value;
      else copy[key] = value;
      return copy;
    });
  const oversized = fc.constantFrom(
    { sessionId, text: "x".repeat(limits.chatTextMax + 1) },
    { sessionId, description: { type: "offer", sdp: "x".repeat(limits.sdpMax + 1) } },
    { interests: Array.from({ length: limits.interestsMax + 1 }, (_, i) => `i${i}`) },
    { interests: ["x".repeat(limits.interestMax + 1)] },
    { sessionId, stats: Object.fromEntries(Array.from({ length: limits.statsKeysMax + 1 }, (_, i) => [`k${i}`, i])) },
  );
  return fc.oneof(anyValue, broken, oversized);
}

describe("malformed and oversized input", () => {
  it("every event answers hundreds of generated bad payloads with an error code, and other calls go on", async () => {
    const [a, b, fuzzer] = await Promise.all([user(dev.url, "a"), user(dev.url, "b"), user(dev.url, "fuzz")]);
    const fa = next(a.socket, "match:found");
    await request(a.socket, "lobby:join", {});
    await request(b.socket, "lobby:join", {});
    const { sessionId } = await fa;
    const received = record(b.socket, "signal");
    let sent = 0;
    const codes = new Set<string>(errorCodes);
    const seen: Record<string, number> = {};

    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...clientEvents), payloadArb(sessionId), async (event, payload) => {
        const res = await rawRequest(fuzzer.socket, event, payload);
        // Leave the queue again if a payload happened to be a valid lobby:join.
        if (res.ok && event === "lobby:join") await request(fuzzer.socket, "lobby:leave");
        if (!res.ok) {
          expect(codes.has(res.error.code)).toBe(true);
          expect(res.error.message.length).toBeLessThan(300);
          seen[res.error.code] = (seen[res.error.code] ?? 0) + 1;
        }
        // The call next to the fuzzer keeps relaying.
        await request(a.socket, "signal", { sessionId, candidate: { candidate: `candidate:${sent}` } });
        sent++;
        expect(fuzzer.socket.connected).toBe(true);
      }),
      { numRuns: 400 },
    );
    await until(
      () => received.length >= sent,
      5000,
      () => `b received ${received.length} of the ${sent} signals a sent`,
    );
    expect(received).toHaveLength(sent);
    expect(Object.keys(seen)).toEqual(expect.arrayContaining(["VALIDATION_FAILED", "PAYLOAD_TOO_LARGE", "NOT_IN_SESSION"]));
    expect((await api(dev.url, "/healthz")).status).toBe(200);
    [a, b, fuzzer].forEach((u) => u.socket.disconnect());
  });

  it("unknown events and non-object payloads get VALIDATION_FAILED", async () => {
    const u = await user(dev.url, "odd");
    expect(await rawRequest(u.socket, "admin:shutdown", {})).toMatchObject({ ok: false, error: { code: "VALIDATION_FAILED" } });
    expect(await rawRequest(u.socket, "lobby:join", "join me")).toMatchObject({ ok: false, error: { code: "VALIDATION_FAILED" } });
    u.socket.disconnect();
  });

  it("a frame above the transport cap closes only that connection", async () => {
    const [u, bystander] = await Promise.all([user(dev.url, "huge"), user(dev.url, "calm")]);
    const closed = new Promise((resolve) => u.socket.once("disconnect", resolve));
    send(u.socket, "chat:send", { sessionId: "x", text: "x".repeat(limits.frameMax * 2) });
    await closed;
    expect(bystander.socket.connected).toBe(true);
    expect(await request(bystander.socket, "lobby:leave")).toEqual({ ok: true });
    bystander.socket.disconnect();
  });

  it("REST answers generated bad bodies with 4xx and an error code, never 5xx", async () => {
    const { token } = await (await import("./support/client.ts")).guest(dev.url, "rest-fuzz");
    const routes = ["/api/auth/guest", "/api/auth/register", "/api/auth/login", "/api/reports", "/api/blocks"];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 200 }),
          fc.constant("x".repeat(limits.bodyMax + 10)),
        ),
        async (route, raw) => {
          const res = await api<{ error?: { code: string } }>(dev.url, route, { token, raw });
          if (res.status >= 400) {
            expect(res.status).toBeLessThan(500);
            expect(codes(res.body.error?.code)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
    expect((await api(dev.url, "/healthz")).status).toBe(200);
  });
});

function codes(code: string | undefined): boolean {
  return code !== undefined && (errorCodes as readonly string[]).includes(code);
}
