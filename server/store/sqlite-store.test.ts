import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { VchatError } from "../../protocol/index.ts";
import { openSqliteStore } from "./sqlite-store.ts";
import { storeContract } from "./store.contract.ts";
import type { SessionParticipant } from "./store.ts";

const dir = mkdtempSync(join(tmpdir(), "vchat-sqlite-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeContract("sqlite :memory:", () => openSqliteStore(":memory:"));

// One file for every test of the contract: ids are unique per test, and the data of the
// earlier tests still being there is part of what a file store must cope with.
storeContract("sqlite file", () => openSqliteStore(join(dir, "contract", "vchat.db")));

describe("sqlite file store", () => {
  it("takes a database made before server-restart was an end reason, keeping its sessions", async () => {
    const path = join(dir, "before-server-restart.db");
    const store = await openSqliteStore(path);
    const session = (id: string) => ({
      id,
      participants: [
        { userId: "u1", nickname: "Ana" },
        { userId: "u2", nickname: "Bob" },
      ] as [SessionParticipant, SessionParticipant],
      relayOnly: false,
      sharedInterests: [],
      startedAt: "2026-01-01T00:00:01.000Z",
    });
    await store.createSession(session("old-1"));
    await store.close();
    // The sessions table as an older vchat made it: its end-reason check without server-restart.
    const raw = new DatabaseSync(path);
    const sql = String((raw.prepare("SELECT sql FROM sqlite_master WHERE name = 'sessions'").get() as { sql: string }).sql);
    raw.exec("DROP INDEX sessions_open; ALTER TABLE sessions RENAME TO s0");
    raw.exec(sql.replace(", 'server-restart'", ""));
    raw.exec("INSERT INTO sessions SELECT * FROM s0; DROP TABLE s0");
    raw.close();

    const again = await openSqliteStore(path);
    try {
      expect(await again.endSession("old-1", { at: "2026-01-01T00:00:02.000Z", reason: "server-restart", by: null })).toBe(true);
      expect(await again.getSession("old-1")).toMatchObject({ endReason: "server-restart" });
      expect(await again.listOpenSessions()).toEqual([]);
    } finally {
      await again.close();
    }
  });

  it("creates the parent folder, uses WAL, and keeps the data when reopened", async () => {
    const path = join(dir, "nested", "deeper", "vchat.db");
    const first = await openSqliteStore(path);
    await first.createUser({
      id: "u1",
      nickname: "Ana",
      kind: "registered",
      email: "Ana@Example.com",
      passwordHash: "h",
      createdAt: "2026-01-01T00:00:00.000Z",
    });
    await first.createSession({
      id: "s1",
      participants: [
        { userId: "u1", nickname: "Ana" },
        { userId: "u2", nickname: "Bob" },
      ],
      relayOnly: true,
      sharedInterests: ["jazz"],
      startedAt: "2026-01-01T00:00:01.000Z",
    });
    await first.saveCallStats("s1", "u1", { setupMs: 800 });
    await first.addChatMessage({ id: "m1", sessionId: "s1", from: "u1", text: "hi 👋", at: "2026-01-01T00:00:02.000Z" });
    await first.addBlock("u1", "u3", "2026-01-01T00:00:03.000Z");
    await first.close();
    expect(statSync(path).size).toBeGreaterThan(0);

    const second = await openSqliteStore(path);
    try {
      expect((await second.getUserByEmail("ana@example.com"))?.id).toBe("u1");
      expect((await second.getSession("s1"))?.stats).toStrictEqual({ u1: { setupMs: 800 } });
      expect((await second.listOpenSessions()).map((s) => s.id)).toStrictEqual(["s1"]);
      expect((await second.listChatMessages("s1")).map((m) => m.text)).toStrictEqual(["hi 👋"]);
      expect(await second.listBlockedEitherWay("u3")).toStrictEqual(["u1"]);
      // The unique email index survived the reopen too.
      const err = await second
        .createUser({ id: "u9", nickname: "X", kind: "registered", email: "ANA@example.com", createdAt: "2026-01-01T00:00:00.000Z" })
        .catch((e: unknown) => e);
      expect((err as VchatError).code).toBe("EMAIL_TAKEN");
    } finally {
      await second.close();
    }
  });

  it("sees writes of another connection to the same file (WAL, two processes' view)", async () => {
    const path = join(dir, "shared.db");
    const a = await openSqliteStore(path);
    const b = await openSqliteStore(path);
    try {
      await a.createUser({ id: "u1", nickname: "Ana", kind: "guest", createdAt: "2026-01-01T00:00:00.000Z" });
      expect((await b.getUser("u1"))?.nickname).toBe("Ana");
      await b.addBlock("u2", "u1", "2026-01-01T00:00:00.000Z");
      expect(await a.listBlockedEitherWay("u1")).toStrictEqual(["u2"]);
      expect(statSync(`${path}-wal`).isFile()).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("answers a user's newest sessions from the index, without a sort step", async () => {
    // The query plan is what keeps /api/sessions fast for users with thousands of calls.
    const { DatabaseSync } = await import("node:sqlite");
    const path = join(dir, "plan.db");
    await (await openSqliteStore(path)).close();
    const db = new DatabaseSync(path);
    try {
      const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(" | ");
      const sessions = plan(
        "SELECT s.id FROM session_users su JOIN sessions s ON s.id = su.session_id WHERE su.user_id = 'u' ORDER BY su.started_at DESC, su.session_id DESC LIMIT 5",
      );
      expect(sessions).not.toMatch(/TEMP B-TREE/);
      expect(sessions).toMatch(/SEARCH su USING PRIMARY KEY/);
      expect(plan("SELECT id FROM chat_messages WHERE session_id = 's' ORDER BY at, rowid")).toMatch(/chat_by_session/);
      expect(plan("SELECT blocker_id FROM blocks WHERE blocked_id = 'u'")).toMatch(/blocks_by_blocked/);
      expect(plan("SELECT id FROM sessions WHERE ended_at IS NULL ORDER BY started_at")).toMatch(/sessions_open/);
    } finally {
      db.close();
    }
  });

  it("commits the writes of one moment together, undoing only the one that fails", async () => {
    const path = join(dir, "group.db");
    const store = await openSqliteStore(path);
    const at = "2026-01-01T00:00:00.000Z";
    // Issued in one turn of the event loop: one transaction, one savepoint each.
    const results = await Promise.allSettled([
      store.createUser({ id: "g1", nickname: "Ana", kind: "registered", email: "ana@example.com", createdAt: at }),
      store.createUser({ id: "g2", nickname: "Ann", kind: "registered", email: "ANA@example.com", createdAt: at }),
      store.createSession({
        id: "gs",
        participants: [
          { userId: "g1", nickname: "Ana" },
          { userId: "g3", nickname: "Bob" },
        ],
        relayOnly: false,
        sharedInterests: [],
        startedAt: at,
      }),
      store.endSession("gs", { at, reason: "ended", by: "g1" }),
      store.addChatMessage({ id: "gm", sessionId: "gs", from: "g1", text: "hi", at }),
    ]);
    expect(results.map((r) => r.status)).toStrictEqual(["fulfilled", "rejected", "fulfilled", "fulfilled", "fulfilled"]);
    expect(((results[1] as PromiseRejectedResult).reason as VchatError).code).toBe("EMAIL_TAKEN");
    expect((results[3] as PromiseFulfilledResult<boolean>).value).toBe(true);
    // Writes still pending when the store closes are committed first; later ones are refused.
    const pending = store.addBlock("g1", "g3", at);
    await store.close();
    await pending;
    await expect(store.addBlock("g1", "g4", at)).rejects.toMatchObject({ code: "UNAVAILABLE" });

    const reopened = await openSqliteStore(path);
    try {
      expect(await reopened.getUser("g2")).toBeNull();
      expect((await reopened.getUserByEmail("ana@example.com"))?.id).toBe("g1");
      expect((await reopened.getSession("gs"))?.endReason).toBe("ended");
      expect((await reopened.listChatMessages("gs")).map((m) => m.id)).toStrictEqual(["gm"]);
      expect(await reopened.listBlockedEitherWay("g3")).toStrictEqual(["g1"]);
    } finally {
      await reopened.close();
    }
  });

  it("opens a schema 1 file with repeated reports: the first report of each reporter and session stays, then one only", async () => {
    const { DatabaseSync } = await import("node:sqlite");
    const path = join(dir, "schema1.db");
    await (await openSqliteStore(path)).close();
    // What schema 1 allowed: the same session reported again by the same user.
    const db = new DatabaseSync(path);
    db.exec("DROP INDEX reports_once; PRAGMA user_version = 1");
    const insert = db.prepare("INSERT INTO reports (id, session_id, reporter_id, reported_id, reason, details, at) VALUES (?, 's1', ?, ?, 'spam', NULL, ?)");
    insert.run("r1", "ana", "bob", "2026-01-01T00:00:01.000Z");
    insert.run("r2", "ana", "bob", "2026-01-01T00:00:02.000Z");
    insert.run("r3", "bob", "ana", "2026-01-01T00:00:03.000Z");
    db.close();
    const store = await openSqliteStore(path);
    try {
      expect((await store.listReports("s1")).map((r) => r.id)).toStrictEqual(["r1", "r3"]);
      await expect(
        store.addReport({ id: "r4", sessionId: "s1", reporterId: "ana", reportedId: "bob", reason: "spam", details: null, at: "2026-01-01T00:00:04.000Z" }),
      ).rejects.toMatchObject({ code: "ALREADY_REPORTED" });
    } finally {
      await store.close();
    }
  });

  it("refuses to open a database written by a newer schema", async () => {
    const { DatabaseSync } = await import("node:sqlite");
    const path = join(dir, "future.db");
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 99");
    db.close();
    await expect(openSqliteStore(path)).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });
});
