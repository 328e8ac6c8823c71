import { createServer } from "node:net";
import mongoose from "mongoose";
import { afterAll, describe, expect, it } from "vitest";
import { describeIf } from "../../tests/support/skip.ts";
import { limits } from "../../protocol/index.ts";
import { VchatError } from "../../protocol/index.ts";
import { defaultChatRetentionDays, mongoModels, mongoSchemas, mongoStoreOn, openMongoStore } from "./mongo-store.ts";
import { storeContract } from "./store.contract.ts";

/**
 * The MongoDB store. No MongoDB server can be installed on our build machines (no Debian
 * package; the memory-server packages download binaries at run time), so:
 * - the shared Store contract runs only when VCHAT_TEST_MONGODB_URI points at a server, e.g.
 *   `VCHAT_TEST_MONGODB_URI=mongodb://127.0.0.1:27017/vchat_test npx vitest run server/store/mongo-store.test.ts`
 *   (use a throwaway database: opening the store syncs the indexes of its collections);
 * - the schema validation and index definitions are tested here without a server, always.
 */
const uri = process.env.VCHAT_TEST_MONGODB_URI;

describeIf(!!uri, "VCHAT_TEST_MONGODB_URI is not set (no MongoDB server can run here); the schema and index tests still run")(
  "MongoDB store against a real server (VCHAT_TEST_MONGODB_URI)",
  () => {
    storeContract("mongodb", () => openMongoStore(uri!, { chatRetentionDays: 30 }));

    it("creates the chat TTL index with the configured retention and replaces it when that changes", async () => {
      const ttlOf = async () => {
        const conn = await mongoose.createConnection(uri!).asPromise();
        try {
          const indexes = await conn.collection("chat_messages").indexes();
          return indexes.find((i) => i.key.sentAt === 1)?.expireAfterSeconds;
        } finally {
          await conn.close();
        }
      };
      await (await openMongoStore(uri!, { chatRetentionDays: 7 })).close();
      expect(await ttlOf()).toBe(7 * 86_400);
      await (await openMongoStore(uri!)).close();
      expect(await ttlOf()).toBe(defaultChatRetentionDays * 86_400);
    });

    it("opens a database with repeated reports from before one per reporter and session: the first of each stays", async () => {
      await (await openMongoStore(uri!)).close();
      const conn = await mongoose.createConnection(uri!).asPromise();
      try {
        const reports = conn.collection<{ _id: string }>("reports");
        await reports.dropIndex("sessionId_1_reporterId_1");
        const doc = (id: string, reporterId: string, at: string) => ({
          _id: id,
          sessionId: "old-s",
          reporterId,
          reportedId: "x",
          reason: "spam",
          details: null,
          at,
        });
        await reports.insertMany([
          doc("old-r2", "ana", "2026-01-01T00:00:02.000Z"),
          doc("old-r1", "ana", "2026-01-01T00:00:01.000Z"),
          doc("old-r3", "bob", "2026-01-01T00:00:03.000Z"),
        ]);
      } finally {
        await conn.close();
      }
      const store = await openMongoStore(uri!);
      try {
        expect((await store.listReports("old-s")).map((r) => r.id)).toStrictEqual(["old-r1", "old-r3"]);
      } finally {
        await store.close();
      }
    });
  },
);

describe("MongoDB store without a server", () => {
  // A connection that never connects: enough to build models and validate documents.
  const conn = mongoose.createConnection();
  const m = mongoModels(conn);
  afterAll(() => conn.close());

  const at = "2026-01-01T00:00:00.000Z";
  /**
   * The paths a document fails validation on, or [] when it is valid. `validate()` runs no
   * query for these schemas; `validateSync()` would do the same but is deprecated in mongoose 9.
   */
  const failing = async (doc: { validate(): Promise<void> }) => {
    const err = await doc.validate().then(
      () => null,
      (e: unknown) => e as Error,
    );
    if (err === null) return [];
    if (!(err instanceof mongoose.Error.ValidationError)) throw err;
    return Object.keys(err.errors).sort();
  };

  describe("schema validation (without a server)", () => {
    it("accepts a registered user and a guest", async () => {
      expect(
        await failing(
          new m.User({ _id: "u1", nickname: "Ana", kind: "registered", email: "Ana@x.io", emailKey: "ana@x.io", createdAt: at, passwordHash: "h" }),
        ),
      ).toEqual([]);
      expect(await failing(new m.User({ _id: "u2", nickname: "Zoë 🦊", kind: "guest", createdAt: at }))).toEqual([]);
    });

    it("refuses bad users, naming each bad field", async () => {
      expect(await failing(new m.User({ _id: "has space", nickname: "x".repeat(limits.nicknameMax + 1), kind: "admin", createdAt: "yesterday" }))).toEqual([
        "_id",
        "createdAt",
        "kind",
        "nickname",
      ]);
      expect(await failing(new m.User({ _id: "u1", nickname: "", kind: "guest" }))).toEqual(["createdAt", "nickname"]);
      expect(await failing(new m.User({ _id: "u1", nickname: "a", kind: "guest", createdAt: at, email: `${"e".repeat(limits.emailMax)}@x` }))).toEqual([
        "email",
      ]);
      expect(await failing(new m.User({ _id: "u1", nickname: "a", kind: "registered", createdAt: at, email: "" }))).toEqual(["email"]);
    });

    it("accepts a new session and defaults it to open with empty stats", async () => {
      const doc = new m.Session({
        _id: "s1",
        participants: [
          { userId: "a", nickname: "A" },
          { userId: "b", nickname: "B" },
        ],
        relayOnly: false,
        sharedInterests: ["jazz"],
        startedAt: at,
      });
      expect(await failing(doc)).toEqual([]);
      expect(doc.toObject()).toMatchObject({ endedAt: null, endReason: null, endedBy: null, stats: {} });
    });

    it("refuses sessions without two different participants, with bad ends or too many interests", async () => {
      const base = { _id: "s1", relayOnly: true, startedAt: at };
      expect(await failing(new m.Session({ ...base, participants: [{ userId: "a", nickname: "A" }] }))).toEqual(["participants"]);
      expect(
        await failing(
          new m.Session({
            ...base,
            participants: [
              { userId: "a", nickname: "A" },
              { userId: "a", nickname: "A" },
            ],
          }),
        ),
      ).toEqual(["participants"]);
      const two = [
        { userId: "a", nickname: "A" },
        { userId: "b", nickname: "B" },
      ];
      expect(await failing(new m.Session({ ...base, participants: two, endReason: "bored", endedAt: "later" }))).toEqual(["endReason", "endedAt"]);
      const interests = Array.from({ length: limits.interestsMax + 1 }, (_, i) => `i${i}`);
      expect(await failing(new m.Session({ ...base, participants: two, sharedInterests: interests }))).toEqual(["sharedInterests"]);
      expect(await failing(new m.Session({ _id: "s1", participants: two, startedAt: at }))).toEqual(["relayOnly"]);
    });

    it("refuses chat messages that are empty, too long, or without the TTL date", async () => {
      const ok = { messageId: "m1", sessionId: "s1", from: "a", text: "🦊".repeat(limits.chatTextMax / 2), at, sentAt: new Date(at) };
      expect(await failing(new m.Chat(ok))).toEqual([]);
      expect(await failing(new m.Chat({ ...ok, text: "x".repeat(limits.chatTextMax + 1) }))).toEqual(["text"]);
      expect(await failing(new m.Chat({ ...ok, text: "" }))).toEqual(["text"]);
      expect(await failing(new m.Chat({ ...ok, sentAt: undefined }))).toEqual(["sentAt"]);
      expect(await failing(new m.Chat({ ...ok, sentAt: "not a date" }))).toEqual(["sentAt"]);
    });

    it("refuses reports with unknown reasons or long details and blocks without both users", async () => {
      const ok = { _id: "r1", sessionId: "s1", reporterId: "a", reportedId: "b", reason: "spam", details: null, at };
      expect(await failing(new m.Report(ok))).toEqual([]);
      expect(await failing(new m.Report({ ...ok, reason: "boring", details: "d".repeat(limits.reportDetailsMax + 1) }))).toEqual(["details", "reason"]);
      expect(await failing(new m.Block({ blockerId: "a", blockedId: "b", at }))).toEqual([]);
      expect(await failing(new m.Block({ blockerId: "a", at }))).toEqual(["blockedId"]);
    });

    it("accepts a ban and refuses one without a reason, with a bad operator name or a bad end", async () => {
      const ok = { _id: "b1", userId: "u1", reason: "spam", by: "ops@example.com", at, until: null };
      expect(await failing(new m.Ban(ok))).toEqual([]);
      expect(await failing(new m.Ban({ ...ok, reason: "", by: "no spaces!", until: "next week" }))).toEqual(["by", "reason", "until"]);
      expect(await failing(new m.Ban({ ...ok, reason: "r".repeat(limits.banReasonMax + 1), liftedBy: "bad name!" }))).toEqual(["liftedBy", "reason"]);
    });

    it("refuses fields the schema does not know instead of storing them", async () => {
      expect(() => new m.User({ _id: "u1", nickname: "a", kind: "guest", createdAt: at, isAdmin: true })).toThrow(/isAdmin/);
    });
  });

  describe("index definitions (schema.indexes())", () => {
    const find = (schema: mongoose.Schema, key: Record<string, number>) => schema.indexes().find(([fields]) => JSON.stringify(fields) === JSON.stringify(key));

    it("expires chat messages after the configured days, 30 by default", () => {
      expect(find(mongoSchemas().chat, { sentAt: 1 })?.[1]).toMatchObject({ expireAfterSeconds: 30 * 86_400 });
      expect(find(mongoSchemas({ chatRetentionDays: 7 }).chat, { sentAt: 1 })?.[1]).toMatchObject({ expireAfterSeconds: 7 * 86_400 });
      expect(find(mongoSchemas({ chatRetentionDays: 0.5 }).chat, { sentAt: 1 })?.[1]).toMatchObject({ expireAfterSeconds: 43_200 });
    });

    it("refuses a retention that is not a positive number of days", async () => {
      for (const days of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => mongoSchemas({ chatRetentionDays: days })).toThrow(expect.objectContaining({ code: "VALIDATION_FAILED" }));
      }
    });

    it("keeps emails unique among users who have one", () => {
      expect(find(mongoSchemas().user, { emailKey: 1 })?.[1]).toMatchObject({
        unique: true,
        partialFilterExpression: { emailKey: { $type: "string" } },
      });
    });

    it("looks sessions up by participant and time, and open sessions by end", () => {
      const s = mongoSchemas().session;
      expect(find(s, { "participants.userId": 1, startedAt: -1, _id: -1 })).toBeDefined();
      expect(find(s, { endedAt: 1, startedAt: 1 })).toBeDefined();
    });

    it("lists reports by time and counts a user's reporters from an index, and finds a user's bans by user", () => {
      const s = mongoSchemas();
      expect(find(s.report, { at: 1, _id: 1 })).toBeDefined();
      expect(find(s.report, { reportedId: 1, at: 1, reporterId: 1 })).toBeDefined();
      expect(find(s.ban, { userId: 1, at: -1, _id: -1 })).toBeDefined();
    });

    it("reads chat and reports by session in order (one report per reporter), and blocks both ways, unique per pair", () => {
      const s = mongoSchemas();
      expect(find(s.chat, { sessionId: 1, at: 1, _id: 1 })).toBeDefined();
      expect(find(s.report, { sessionId: 1, at: 1, _id: 1 })).toBeDefined();
      expect(find(s.report, { sessionId: 1, reporterId: 1 })?.[1]).toMatchObject({ unique: true });
      expect(find(s.block, { blockerId: 1, blockedId: 1 })?.[1]).toMatchObject({ unique: true });
      expect(find(s.block, { blockedId: 1, blockerId: 1 })).toBeDefined();
    });
  });

  describe("the store while MongoDB cannot be reached", () => {
    // A connection that never connects stands for MongoDB being down: what the store does then
    // is what `/readyz` and the clients see.
    const down = mongoose.createConnection();
    const store = mongoStoreOn(down);
    afterAll(() => down.close());
    const codeOf = (promise: Promise<unknown>) =>
      promise.then(
        () => "resolved",
        (e: unknown) => (e instanceof VchatError ? e.code : `not a VchatError: ${String(e)}`),
      );

    it("still refuses bad records with VALIDATION_FAILED: the schema runs before any I/O", async () => {
      const base = { id: "u1", nickname: "Ana", createdAt: at };
      expect(await codeOf(store.createUser({ ...base, kind: "admin" as "guest" }))).toBe("VALIDATION_FAILED");
      expect(await codeOf(store.createUser({ ...base, kind: "guest", nickname: "x".repeat(limits.nicknameMax + 1) }))).toBe("VALIDATION_FAILED");
      expect(await codeOf(store.endSession("s1", { at, reason: "bored" as "ended", by: null }))).toBe("VALIDATION_FAILED");
      expect(await codeOf(store.addChatMessage({ id: "m1", sessionId: "s1", from: "u1", text: "", at }))).toBe("VALIDATION_FAILED");
      expect(
        await codeOf(store.addReport({ id: "r1", sessionId: "s1", reporterId: "a", reportedId: "b", reason: "boring" as "spam", details: null, at })),
      ).toBe("VALIDATION_FAILED");
    });

    it("fails every call at once with UNAVAILABLE instead of queueing it", async () => {
      const started = Date.now();
      const calls: Promise<unknown>[] = [
        store.ping(),
        store.createUser({ id: "u1", nickname: "Ana", kind: "guest", createdAt: at }),
        store.getUser("u1"),
        store.getUserByEmail("a@b.c"),
        store.createSession({
          id: "s1",
          participants: [
            { userId: "a", nickname: "A" },
            { userId: "b", nickname: "B" },
          ],
          relayOnly: false,
          sharedInterests: [],
          startedAt: at,
        }),
        store.endSession("s1", { at, reason: "ended", by: null }),
        store.saveCallStats("s1", "a", { rttMs: 1 }),
        store.getSession("s1"),
        store.listSessions("a", 10),
        store.listOpenSessions(),
        store.addChatMessage({ id: "m1", sessionId: "s1", from: "a", text: "hi", at }),
        store.listChatMessages("s1"),
        store.addReport({ id: "r1", sessionId: "s1", reporterId: "a", reportedId: "b", reason: "spam", details: null, at }),
        store.listReports("s1"),
        store.addBlock("a", "b", at),
        store.listBlockedEitherWay("a"),
      ];
      expect(await Promise.all(calls.map(codeOf))).toStrictEqual(calls.map(() => "UNAVAILABLE"));
      expect(Date.now() - started).toBeLessThan(2_000);
    });
  });

  describe("connecting", () => {
    it("fails to open with a clear error when nothing listens at the address", async () => {
      // A port that was free a moment ago: loopback only, nothing answers there.
      const port = await new Promise<number>((resolve) => {
        const srv = createServer().listen(0, "127.0.0.1", () => {
          const p = (srv.address() as { port: number }).port;
          srv.close(() => resolve(p));
        });
      });
      const started = Date.now();
      await expect(openMongoStore(`mongodb://127.0.0.1:${port}/vchat`, { serverSelectionTimeoutMS: 300 })).rejects.toThrow(/ECONNREFUSED|connect/i);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it("refuses a bad retention before trying to connect", async () => {
      await expect(openMongoStore("mongodb://127.0.0.1:1/vchat", { chatRetentionDays: -3 })).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
    });
  });
});
