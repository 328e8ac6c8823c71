import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthRevoked } from "../protocol/index.ts";
import { startDevServer, type DevServer } from "../server/dev.ts";
import { api, next, pair, request, user, type ClientSocket } from "./support/client.ts";
import { testDev } from "./support/dev.ts";

/**
 * Accounts that can be stopped (issue 11): a deleted account or an expired token keeps no access,
 * neither on REST nor on a socket that was open before, and TURN credentials are never handed to
 * it; users reported by several others can be banned automatically.
 */

/** Whether a new user who joins the lobby is matched within 500 ms (with nobody else waiting, never). */
async function matchedWithinHalfASecond(url: string): Promise<boolean> {
  const other = await user(url, "other");
  const matched = next(other.socket, "match:found", 500).then(
    () => true,
    () => false,
  );
  expect(await request(other.socket, "lobby:join", {})).toMatchObject({ ok: true });
  const was = await matched;
  other.socket.disconnect();
  return was;
}

function revokedThenClosed(socket: ClientSocket, ms = 5000): Promise<{ revoked: AuthRevoked; reason: string }> {
  const revoked = next(socket, "auth:revoked", ms);
  const closed = new Promise<string>((resolve) => socket.once("disconnect", resolve));
  return Promise.all([revoked, closed]).then(([r, reason]) => ({ revoked: r, reason }));
}

describe("a deleted account", () => {
  let dir: string;
  let dev: DevServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vchat-standing-"));
    dev = await startDevServer({
      port: 0,
      db: join(dir, "vchat.db"),
      stateDir: dir,
      turn: false,
      quiet: true,
      webDir: null,
      config: { tuning: { accountCheckMs: 200 } },
    });
  });
  afterAll(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  // As an operator deleting the row by hand (the store has no delete yet): another connection to the file.
  const deleteUser = (id: string, file = "vchat.db") => {
    const db = new DatabaseSync(join(dir, file));
    db.prepare("DELETE FROM users WHERE id = ?").run(id);
    db.close();
  };

  it("loses REST access at once (TURN credentials included) and its open socket is closed at its next event", async () => {
    const gone = await user(dev.url, "gone");
    const peer = await user(dev.url, "peer");
    await pair(gone, peer);
    expect((await api(dev.url, "/api/ice", { token: gone.token })).status).toBe(200);

    deleteUser(gone.id);
    await new Promise((r) => setTimeout(r, 300));

    for (const path of ["/api/me", "/api/ice", "/api/sessions"]) {
      expect(await api(dev.url, path, { token: gone.token }), path).toMatchObject({
        status: 401,
        body: { error: { code: "UNAUTHENTICATED", message: "the account no longer exists" } },
      });
    }
    expect((await api(dev.url, "/api/blocks", { token: gone.token, body: { userId: peer.id } })).status).toBe(401);

    const closed = revokedThenClosed(gone.socket);
    const peerTold = next(peer.socket, "call:ended");
    expect(await request(gone.socket, "lobby:join", {})).toMatchObject({ ok: false, error: { code: "UNAUTHENTICATED" } });
    expect(await closed).toMatchObject({ revoked: { reason: "account-deleted" }, reason: "io server disconnect" });
    expect(await peerTold).toMatchObject({ reason: "disconnected" });
    peer.socket.disconnect();
  });

  it("closes an idle socket waiting in the lobby within a sweep (tuning.accountSweepMs), so it is never matched (nor handed TURN credentials)", async () => {
    const swept = await startDevServer({
      port: 0,
      db: join(dir, "swept.db"),
      stateDir: dir,
      turn: false,
      quiet: true,
      webDir: null,
      config: { tuning: { accountSweepMs: 300 } },
    });
    try {
      const idle = await user(swept.url, "idle");
      expect(await request(idle.socket, "lobby:join", {})).toMatchObject({ ok: true });
      const closed = revokedThenClosed(idle.socket, 3000);
      deleteUser(idle.id, "swept.db");
      expect(await closed).toMatchObject({ revoked: { reason: "account-deleted" }, reason: "io server disconnect" });
      expect(await matchedWithinHalfASecond(swept.url)).toBe(false);
    } finally {
      await swept.stop();
    }
  });
});

describe("an expired token", () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await testDev({ config: { tokenTtlSeconds: 2 } });
  });
  afterAll(() => dev?.stop());

  it("closes its socket when it runs out, while idle, and is refused on REST", async () => {
    const u = await user(dev.url, "brief");
    expect(await request(u.socket, "lobby:join", {})).toMatchObject({ ok: true });
    const started = Date.now();
    const { revoked, reason } = await revokedThenClosed(u.socket, 4000);
    expect(revoked).toMatchObject({ reason: "token-expired" });
    expect(reason).toBe("io server disconnect");
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await api(dev.url, "/api/ice", { token: u.token })).toMatchObject({ status: 401, body: { error: { message: "the token has expired" } } });
    // Out of the queue with its socket: the next user waits instead of being matched with it.
    expect(await matchedWithinHalfASecond(dev.url)).toBe(false);
  });
});

describe("automatic temporary ban (tuning.autoBanReporters)", () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await testDev({ config: { tuning: { autoBanReporters: 2, autoBanWindowSeconds: 600, autoBanSeconds: 3600, rematchCooldownMs: 0 } } });
  });
  afterAll(() => dev?.stop());

  it("bans a user reported by 2 different users within the window, for the configured time, recorded as by auto", async () => {
    const target = await user(dev.url, "troll");
    const [r1, r2] = await Promise.all([user(dev.url, "r1"), user(dev.url, "r2")]);
    const report = (by: typeof r1, sessionId: string) => api(dev.url, "/api/reports", { token: by.token, body: { sessionId, reason: "harassment" } });

    const [first] = await pair(target, r1);
    // One reporter twice is still one reporter: the second report of the same call is refused.
    expect((await report(r1, first.sessionId)).status).toBe(201);
    expect((await report(r1, first.sessionId)).status).toBe(409);
    expect(await request(target.socket, "call:end", { sessionId: first.sessionId })).toMatchObject({ ok: true });
    expect((await api(dev.url, "/api/ice", { token: target.token })).status).toBe(200);

    const [second] = await pair(target, r2);
    const closed = revokedThenClosed(target.socket);
    expect((await report(r2, second.sessionId)).status).toBe(201);
    const { revoked } = await closed;
    expect(revoked.reason).toBe("banned");
    expect(Date.parse(revoked.until!) - Date.now()).toBeGreaterThan(3500 * 1000 - 60_000);
    expect(await api(dev.url, "/api/ice", { token: target.token })).toMatchObject({ status: 403, body: { error: { code: "BANNED" } } });
    expect((await dev.store.listBans(target.id)).map((b) => b.by)).toEqual(["auto"]);
    // The reporters are untouched.
    expect((await api(dev.url, "/api/ice", { token: r1.token })).status).toBe(200);
    [r1, r2].forEach((u) => u.socket.disconnect());
  });

  it("is off by default", async () => {
    const plain = await testDev();
    try {
      expect(plain.config.tuning.autoBanReporters).toBe(0);
    } finally {
      await plain.stop();
    }
  });
});
