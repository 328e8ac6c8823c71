import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthResponse, IceResponse, ReadyResponse, User } from "../protocol/index.ts";
import { startDevServer, type DevServer } from "../server/dev.ts";
import { openSqliteStore } from "../server/store/sqlite-store.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { api, next, request, user } from "./support/client.ts";
import { until } from "./support/crowd.ts";
import { testDev } from "./support/dev.ts";

describe("REST API on vchat dev", () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await testDev({
      config: {
        turn: { secret: "rest-test-turn-secret-000", urls: ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"], ttlSeconds: 600 },
        tuning: { loginFailures: 3, eventsPerSecond: 20 },
      },
    });
  });
  afterAll(() => dev?.stop());

  it("registers, logs in and answers /api/me; refuses a taken email and a wrong password", async () => {
    const reg = await api<AuthResponse>(dev.url, "/api/auth/register", { body: { email: "Ann@Example.org", password: "correct horse", nickname: "ann" } });
    expect(reg.status).toBe(201);
    expect(reg.body.user).toMatchObject({ kind: "registered", nickname: "ann", email: "ann@example.org" });
    expect(JSON.stringify(reg.body)).not.toContain("scrypt");
    const again = await api(dev.url, "/api/auth/register", { body: { email: "ann@example.org", password: "another one", nickname: "ann2" } });
    expect(again).toMatchObject({ status: 409, body: { error: { code: "EMAIL_TAKEN" } } });
    const login = await api<AuthResponse>(dev.url, "/api/auth/login", { body: { email: "ANN@example.org", password: "correct horse" } });
    expect(login.status).toBe(200);
    const me = await api<User>(dev.url, "/api/me", { token: login.body.token });
    expect(me.body).toMatchObject({ id: reg.body.user.id, nickname: "ann" });
    const wrong = await api(dev.url, "/api/auth/login", { body: { email: "ann@example.org", password: "wrong horse" } });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: "INVALID_CREDENTIALS" } } });
    const nobody = await api(dev.url, "/api/auth/login", { body: { email: "nobody@example.org", password: "whatever1" } });
    expect(nobody).toMatchObject({ status: 401, body: { error: { code: "INVALID_CREDENTIALS" } } });
  });

  it("throttles repeated failed logins, even with the right password afterwards", async () => {
    await api(dev.url, "/api/auth/register", { body: { email: "bo@example.org", password: "right password", nickname: "bo" } });
    for (let i = 0; i < 3; i++) {
      expect((await api(dev.url, "/api/auth/login", { body: { email: "bo@example.org", password: "bad password" } })).status).toBe(401);
    }
    const locked = await api(dev.url, "/api/auth/login", { body: { email: "bo@example.org", password: "right password" } });
    expect(locked).toMatchObject({ status: 429, body: { error: { code: "RATE_LIMITED" } } });
  });

  it("validates bodies with stable codes", async () => {
    expect(await api(dev.url, "/api/auth/register", { body: { email: "not-an-email", password: "long enough", nickname: "x" } })).toMatchObject({
      status: 400,
      body: { error: { code: "VALIDATION_FAILED" } },
    });
    expect(await api(dev.url, "/api/auth/register", { body: { email: "c@example.org", password: "short", nickname: "x" } })).toMatchObject({
      status: 400,
      body: { error: { code: "VALIDATION_FAILED" } },
    });
    expect(await api(dev.url, "/api/auth/guest", { raw: "{not json" })).toMatchObject({ status: 400, body: { error: { code: "VALIDATION_FAILED" } } });
    expect(await api(dev.url, "/api/auth/guest", { body: { nickname: "a\u0000b" } })).toMatchObject({ status: 400 });
    expect(await api(dev.url, "/api/nothing-here")).toMatchObject({ status: 404, body: { error: { code: "NOT_FOUND" } } });
  });

  it("issues TURN REST credentials that coturn's use-auth-secret accepts, with an expiry", async () => {
    const { body: g } = await api<AuthResponse>(dev.url, "/api/auth/guest", { body: {} });
    const before = Math.floor(Date.now() / 1000);
    const ice = await api<IceResponse>(dev.url, "/api/ice", { token: g.token });
    expect(ice.status).toBe(200);
    // Valid for at least ttlSeconds (600): until the end of the next 600 s window (see turn/ice.ts).
    expect(ice.body.ttlSeconds).toBeGreaterThanOrEqual(600);
    expect(ice.body.ttlSeconds).toBeLessThanOrEqual(1200);
    const turn = ice.body.iceServers.find((s) => [s.urls].flat().some((u) => u.startsWith("turn:")));
    const [expiry, userId] = turn!.username!.split(":");
    expect(userId).toBe(g.user.id);
    expect(Number(expiry) % 600).toBe(0);
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 600);
    expect(Number(expiry)).toBeLessThanOrEqual(before + 1202);
    const { createHmac } = await import("node:crypto");
    expect(turn!.credential).toBe(createHmac("sha1", "rest-test-turn-secret-000").update(turn!.username!).digest("base64"));
  });

  it("answers healthz, readyz and Prometheus metrics", async () => {
    expect(await api(dev.url, "/healthz")).toMatchObject({ status: 200, body: { ok: true } });
    const ready = await api<ReadyResponse>(dev.url, "/readyz");
    expect(ready).toMatchObject({ status: 200, body: { ready: true, checks: { store: { ok: true } } } });
    const [a, b] = await Promise.all([user(dev.url, "m1"), user(dev.url, "m2")]);
    const fa = next(a.socket, "match:found");
    await request(a.socket, "lobby:join", {});
    await request(b.socket, "lobby:join", {});
    const { sessionId } = await fa;
    await request(a.socket, "signal", { sessionId, candidate: null });
    await request(a.socket, "signal", { sessionId: "nope", candidate: null });
    const metrics = (await api<string>(dev.url, "/metrics")).body;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(metrics)?.[1]);
    expect(value("vchat_connected_sockets")).toBe(2);
    expect(value("vchat_matches_total")).toBeGreaterThanOrEqual(1);
    expect(value("vchat_signals_relayed_total")).toBeGreaterThanOrEqual(1);
    expect(value("vchat_match_wait_seconds_count")).toBeGreaterThanOrEqual(2);
    expect(value("vchat_queue_length")).toBe(0);
    expect(metrics).toMatch(/^vchat_errors_total\{code="NOT_IN_SESSION"\} [1-9]/m);
    a.socket.disconnect();
    b.socket.disconnect();
  });

  it("rate limits a flooding socket without disturbing it for long", async () => {
    const u = await user(dev.url, "flood");
    const results = await Promise.all(Array.from({ length: 60 }, () => request(u.socket, "lobby:leave")));
    const limited = results.filter((r) => !r.ok && r.error.code === "RATE_LIMITED").length;
    expect(limited).toBeGreaterThan(0);
    expect(limited).toBeLessThan(60);
    // Answered again within the next second of the budget.
    const flooded = Date.now();
    let last: unknown;
    await until(
      async () => (last = await request(u.socket, "lobby:leave")).ok,
      2000,
      () => `still refused ${Date.now() - flooded} ms after the flood: ${JSON.stringify(last)}`,
    );
    expect(last).toEqual({ ok: true });
    expect(u.socket.connected).toBe(true);
    u.socket.disconnect();
  });
});

describe("graceful shutdown", () => {
  it("ends calls with server-shutdown for both peers and closes the session records", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vchat-dev-"));
    try {
      const db = join(dir, "vchat.db");
      const dev = await startDevServer({ port: 0, db, stateDir: dir, turn: false, quiet: true, webDir: null });
      const [a, b] = await Promise.all([user(dev.url, "a"), user(dev.url, "b")]);
      const fa = next(a.socket, "match:found");
      await request(a.socket, "lobby:join", {});
      await request(b.socket, "lobby:join", {});
      const { sessionId } = await fa;
      const endA = next(a.socket, "call:ended");
      const endB = next(b.socket, "call:ended");
      await dev.stop();
      expect(await endA).toEqual({ sessionId, reason: "server-shutdown" });
      expect(await endB).toEqual({ sessionId, reason: "server-shutdown" });
      const store = await openSqliteStore(db);
      const record = await store.getSession(sessionId);
      await store.close();
      expect(record).toMatchObject({ endReason: "server-shutdown" });
      expect(record?.endedAt).toBeTruthy();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("web client files", () => {
  it("serves the build and falls back to index.html for client routes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vchat-web-"));
    mkdirSync(join(dir, "assets"));
    writeFileSync(join(dir, "index.html"), "<!doctype html><title>vchat</title>");
    writeFileSync(join(dir, "assets", "app.js"), "console.log(1)");
    const dev = await startDevServer({ port: 0, db: ":memory:", turn: false, quiet: true, webDir: dir });
    try {
      expect((await api<string>(dev.url, "/")).body).toContain("<title>vchat</title>");
      expect((await api<string>(dev.url, "/some/route")).body).toContain("<title>vchat</title>");
      expect((await api<string>(dev.url, "/assets/app.js")).body).toBe("console.log(1)");
      expect((await api(dev.url, "/api/unknown")).status).toBe(404);
    } finally {
      await dev.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("vchat dev (the command)", () => {
  it("prints a JSON start line, serves, and exits 0 on SIGTERM, stopping its coturn", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vchat-cli-"));
    const child = spawn(process.execPath, [join(import.meta.dirname, "../cli/vchat.ts"), "dev", "--port", "0", "--json", "--db", join(dir, "v.db")], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once("line", resolve);
        child.once("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      const start = JSON.parse(line) as { url: string; api: string; turn: string[] };
      expect(start.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect((await fetch(new URL("/healthz", start.url))).status).toBe(200);
      if (coturnInstalled())
        expect(start.turn).toEqual([expect.stringMatching(/^turn:127\.0\.0\.1:\d+\?transport=udp$/), expect.stringMatching(/transport=tcp$/)]);
      else console.log("coturn not installed: the TURN part of this test was skipped");
      const exit = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exit).toBe(0);
      if (start.turn.length) {
        const port = Number(/:(\d+)\?/.exec(start.turn[0]!)![1]);
        const { createConnection } = await import("node:net");
        const refused = await new Promise<boolean>((resolve) => {
          const s = createConnection(port, "127.0.0.1");
          s.once("connect", () => (s.destroy(), resolve(false)));
          s.once("error", () => resolve(true));
        });
        expect(refused).toBe(true);
      }
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
