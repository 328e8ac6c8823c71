import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { limits, send } from "../protocol/index.ts";
import type { DevServer } from "../server/dev.ts";
import { api, next, rawRequest, record, request, sleep, user, type TestUser } from "./support/client.ts";
import { testDev } from "./support/dev.ts";

/** Abuse from one socket on `vchat dev`: what it costs the abuser, and that nobody else notices. */
let dev: DevServer;
const users: TestUser[] = [];
beforeAll(async () => {
  dev = await testDev({ config: { tuning: { eventsPerSecond: 20, abuseSeconds: 2 } } });
});
afterAll(async () => {
  users.forEach((u) => u.socket.disconnect());
  await dev?.stop();
});
const newUser = async (name: string) => {
  const u = await user(dev.url, name);
  users.push(u);
  return u;
};

describe("event budget", () => {
  it("counts unknown event names against the socket's budget", async () => {
    const u = await newUser("unknown");
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => rawRequest(u.socket, `no:such:event:${i}`, {})));
    const codes = results.map((r) => (r.ok ? "ok" : r.error.code));
    // 20 a second: the rest are refused for the rate (fewer if the burst straddles a second).
    const limited = codes.filter((c) => c === "RATE_LIMITED").length;
    expect(limited).toBeGreaterThan(0);
    expect(limited).toBeLessThanOrEqual(10);
    expect(codes.filter((c) => c === "VALIDATION_FAILED")).toHaveLength(30 - limited);
    // Object's own names are unknown events too, not handlers.
    await sleep(1100);
    expect(await rawRequest(u.socket, "toString")).toMatchObject({ ok: false, error: { code: "VALIDATION_FAILED" } });
  });

  it("disconnects a socket over its budget for seconds running, telling it why; others go on", async () => {
    const [flooder, bystander] = await Promise.all([newUser("flooder"), newUser("bystander")]);
    const errors = record(flooder.socket, "error");
    let reason = "";
    const closed = new Promise<void>((resolve) => flooder.socket.once("disconnect", (r) => ((reason = r), resolve())));
    const started = Date.now();
    let open = true;
    void closed.then(() => (open = false));
    // 40 events every 100 ms (400 a second against a budget of 20), for at most 5 s.
    while (open && Date.now() - started < 5000) {
      for (let i = 0; i < 40; i++) send(flooder.socket, "chat:typing", { sessionId: "x", typing: true });
      await sleep(100);
    }
    await Promise.race([closed, sleep(500)]);
    expect(reason).toBe("io server disconnect");
    // Over budget for abuseSeconds (2 s) running: cut off then, not before.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    expect(Date.now() - started).toBeLessThan(3500);
    expect(errors.some((e) => e.code === "RATE_LIMITED" && e.message.includes("slow down"))).toBe(true);
    // Told once why it was cut off.
    const disconnected = { code: "RATE_LIMITED", message: "too many events for 2 seconds running; disconnected" };
    expect(errors.filter((e) => e.message === disconnected.message)).toEqual([disconnected]);
    expect(await request(bystander.socket, "lobby:leave")).toEqual({ ok: true });
  });

  it("keeps a socket that bursts now and then", async () => {
    const u = await newUser("bursty");
    // Over budget for a moment, then a quiet second, three times: longer than abuseSeconds in all.
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 30 }, () => request(u.socket, "lobby:leave")));
      await sleep(1000 + 1100);
    }
    expect(u.socket.connected).toBe(true);
    expect(await request(u.socket, "lobby:leave")).toEqual({ ok: true });
  });
});

describe("content", () => {
  it("chat with controls or bidi overrides is refused and never reaches the peer; CR LF arrives as LF", async () => {
    const [a, b] = await Promise.all([newUser("chat-a"), newUser("chat-b")]);
    const found = next(a.socket, "match:found");
    await request(a.socket, "lobby:join", {});
    await request(b.socket, "lobby:join", {});
    const { sessionId } = await found;
    const inbox = record(b.socket, "chat:message");
    for (const text of ["\u001b[31mred\u001b[0m", "ding\u0007", "nul\u0000", "abc\u202efdp.exe", "\u200b"]) {
      expect(await request(a.socket, "chat:send", { sessionId, text }), JSON.stringify(text)).toMatchObject({
        ok: false,
        error: { code: "VALIDATION_FAILED" },
      });
    }
    expect(await request(a.socket, "chat:send", { sessionId, text: "two\r\nlines" })).toMatchObject({ ok: true });
    await sleep(200);
    expect(inbox.map((m) => m.text)).toEqual(["two\nlines"]);
    expect((await dev.store.listChatMessages(sessionId)).map((m) => m.text)).toEqual(["two\nlines"]);
  });

  it("nicknames of invisible characters or with direction marks are refused at sign-up", async () => {
    for (const nickname of ["\u200b", "admin\u200f\u200b", "\u3164", "\u2800\u2800"]) {
      expect(await api(dev.url, "/api/auth/guest", { body: { nickname } }), JSON.stringify(nickname)).toMatchObject({
        status: 400,
        body: { error: { code: "VALIDATION_FAILED" } },
      });
    }
    expect(await api(dev.url, "/api/auth/guest", { body: { nickname: "admin" } })).toMatchObject({ status: 201 });
  });

  it("call:stats above its size cap is refused", async () => {
    const u = await newUser("stats");
    const stats = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, "x".repeat(150)]));
    expect(JSON.stringify(stats).length).toBeGreaterThan(limits.statsBytesMax);
    expect(await request(u.socket, "call:stats", { sessionId: "s1", stats })).toMatchObject({ ok: false, error: { code: "VALIDATION_FAILED" } });
  });
});
