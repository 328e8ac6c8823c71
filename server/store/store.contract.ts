import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VchatError, limits, type CallStats, type ErrorCode } from "../../protocol/index.ts";
import type { BanRecord, ChatRecord, ReportRecord, SessionRecord, Store, UserRecord } from "./store.ts";

/**
 * The behaviour every Store implementation must show: SQLite and MongoDB run this same suite.
 * Every test works with ids of its own, so the suite also passes against a database that holds
 * other data (a shared MongoDB).
 *
 * @example
 * storeContract("sqlite :memory:", () => openSqliteStore(":memory:"));
 */
export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    let run: string;
    /** An id unique to this test. */
    const id = (label: string) => `${run}-${label}`;

    beforeEach(async () => {
      run = randomBytes(6).toString("hex");
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    const time = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
    const user = (label: string, extra: Partial<UserRecord> = {}): UserRecord => ({
      id: id(label),
      nickname: label,
      kind: "guest",
      createdAt: time(0),
      ...extra,
    });
    const session = (label: string, a: string, b: string, startedAt: string) => ({
      id: id(label),
      participants: [
        { userId: id(a), nickname: a },
        { userId: id(b), nickname: b },
      ] as SessionRecord["participants"],
      relayOnly: false,
      sharedInterests: [] as string[],
      startedAt,
    });
    const chat = (label: string, sessionLabel: string, text: string, at: string): ChatRecord => ({
      id: id(label),
      sessionId: id(sessionLabel),
      from: id("ana"),
      text,
      at,
    });
    const report = (label: string, extra: Partial<ReportRecord> = {}): ReportRecord => ({
      id: id(label),
      sessionId: id("s1"),
      reporterId: id("ana"),
      reportedId: id("bob"),
      reason: "spam",
      details: null,
      at: time(10),
      ...extra,
    });
    const rejectsWith = async (promise: Promise<unknown>, code: ErrorCode) => {
      const err = await promise.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `expected a VchatError ${code}`).toBeInstanceOf(VchatError);
      expect((err as VchatError).code).toBe(code);
    };

    describe("users", () => {
      it("stores a registered user and a guest and returns them exactly", async () => {
        const ana = user("ana", { kind: "registered", email: "Ana@Example.com", passwordHash: "scrypt$16384$8$1$c2FsdA==$aGFzaA==" });
        const guest = user("guest");
        await store.createUser(ana);
        await store.createUser(guest);
        expect(await store.getUser(ana.id)).toStrictEqual(ana);
        // A guest has no email and no password: the keys are absent, not null.
        expect(await store.getUser(guest.id)).toStrictEqual(guest);
      });

      it("finds a user by email in any case and keeps the original spelling", async () => {
        const email = `Ana.${run}@Example.COM`;
        const ana = user("ana", { kind: "registered", email, passwordHash: "h" });
        await store.createUser(ana);
        expect(await store.getUserByEmail(email.toLowerCase())).toStrictEqual(ana);
        expect(await store.getUserByEmail(email.toUpperCase())).toStrictEqual(ana);
        expect(await store.getUserByEmail(`other.${run}@example.com`)).toBeNull();
      });

      it("refuses a second user with the same email in another case with EMAIL_TAKEN", async () => {
        const email = `bob.${run}@example.com`;
        const bob = user("bob", { kind: "registered", email, passwordHash: "h1" });
        await store.createUser(bob);
        await rejectsWith(store.createUser(user("bob2", { kind: "registered", email: email.toUpperCase(), passwordHash: "h2" })), "EMAIL_TAKEN");
        expect(await store.getUser(id("bob2"))).toBeNull();
        expect(await store.getUserByEmail(email)).toStrictEqual(bob);
      });

      it("lets any number of guests exist without an email", async () => {
        for (const n of [1, 2, 3]) await store.createUser(user(`g${n}`));
        for (const n of [1, 2, 3]) expect((await store.getUser(id(`g${n}`)))?.nickname).toBe(`g${n}`);
      });

      it("refuses a second user with the same id, and not as EMAIL_TAKEN", async () => {
        await store.createUser(user("ana"));
        const err = await store.createUser(user("ana", { nickname: "other" })).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(Error);
        expect((err as Partial<VchatError>).code).not.toBe("EMAIL_TAKEN");
        expect((await store.getUser(id("ana")))?.nickname).toBe("ana");
      });

      it("returns null for unknown ids and emails", async () => {
        expect(await store.getUser(id("nobody"))).toBeNull();
        expect(await store.getUserByEmail(`nobody.${run}@example.com`)).toBeNull();
        expect(await store.getUser("")).toBeNull();
      });

      it("keeps unicode and strings at their size limits intact", async () => {
        const nickname = "Zoë 🦊 Ωmega — 日本".padEnd(limits.nicknameMax, "é");
        expect(nickname.length).toBe(limits.nicknameMax);
        const local = `ü${run}`;
        const email = `${local}@${"d".repeat(limits.emailMax - local.length - 5)}.com`;
        expect(email.length).toBe(limits.emailMax);
        const zoe = user("zoe", { nickname, kind: "registered", email, passwordHash: "x".repeat(200) });
        await store.createUser(zoe);
        expect(await store.getUser(zoe.id)).toStrictEqual(zoe);
        expect(await store.getUserByEmail(email.toUpperCase())).toStrictEqual(zoe);
      });

      it("refuses records the schema does not allow with VALIDATION_FAILED", async () => {
        await rejectsWith(store.createUser(user("k", { kind: "admin" as UserRecord["kind"] })), "VALIDATION_FAILED");
        await rejectsWith(store.createUser(user("n", { nickname: "x".repeat(limits.nicknameMax + 1) })), "VALIDATION_FAILED");
        await rejectsWith(store.createUser(user("e", { nickname: "" })), "VALIDATION_FAILED");
        await rejectsWith(store.createUser(user("m", { kind: "registered", email: "" })), "VALIDATION_FAILED");
        await rejectsWith(store.createUser(user("t", { createdAt: "yesterday" })), "VALIDATION_FAILED");
        await rejectsWith(store.createUser(user("i", { id: "has space" })), "VALIDATION_FAILED");
        for (const label of ["k", "n", "e", "m", "t"]) expect(await store.getUser(id(label))).toBeNull();
      });
    });

    describe("sessions", () => {
      it("creates a session that is open, without stats, and returns it exactly", async () => {
        const s = { ...session("s1", "ana", "bob", time(1)), relayOnly: true, sharedInterests: ["jazz", "café", "日本語"] };
        await store.createSession(s);
        expect(await store.getSession(s.id)).toStrictEqual({ ...s, endedAt: null, endReason: null, endedBy: null, stats: {} });
      });

      it("ends a session once: later calls change nothing and return false", async () => {
        await store.createSession(session("s1", "ana", "bob", time(1)));
        expect(await store.endSession(id("s1"), { at: time(5), reason: "next", by: id("ana") })).toBe(true);
        expect(await store.endSession(id("s1"), { at: time(9), reason: "disconnected", by: null })).toBe(false);
        const s = await store.getSession(id("s1"));
        expect([s?.endedAt, s?.endReason, s?.endedBy]).toStrictEqual([time(5), "next", id("ana")]);
        expect(await store.endSession(id("unknown"), { at: time(5), reason: "ended", by: null })).toBe(false);
      });

      it("records who ended it as null when nobody did", async () => {
        await store.createSession(session("s1", "ana", "bob", time(1)));
        expect(await store.endSession(id("s1"), { at: time(2), reason: "server-shutdown", by: null })).toBe(true);
        expect((await store.getSession(id("s1")))?.endedBy).toBeNull();
      });

      it("keeps call stats per user; a second report replaces the first", async () => {
        await store.createSession(session("s1", "ana", "bob", time(1)));
        const anaStats: CallStats = {
          setupMs: 812.5,
          localCandidateType: "relay",
          transport: "udp",
          lossPct: 0,
          rttMs: 23,
          extraFlag: true,
          note: "ünïcode",
          none: null,
        };
        const bobFirst: CallStats = { setupMs: 1000, framesDecoded: 3 };
        const bobLast: CallStats = { setupMs: 950, framesDecoded: 300, failure: "ice-failed" };
        await store.saveCallStats(id("s1"), id("ana"), anaStats);
        await store.saveCallStats(id("s1"), id("bob"), bobFirst);
        await store.endSession(id("s1"), { at: time(3), reason: "ended", by: id("bob") });
        // Clients send stats when the call ends, often after the session record closed.
        await store.saveCallStats(id("s1"), id("bob"), bobLast);
        expect((await store.getSession(id("s1")))?.stats).toStrictEqual({ [id("ana")]: anaStats, [id("bob")]: bobLast });
      });

      it("refuses stats for an unknown session or from a user not in it with NOT_FOUND", async () => {
        await store.createSession(session("s1", "ana", "bob", time(1)));
        await rejectsWith(store.saveCallStats(id("nope"), id("ana"), { setupMs: 1 }), "NOT_FOUND");
        await rejectsWith(store.saveCallStats(id("s1"), id("eve"), { setupMs: 1 }), "NOT_FOUND");
        expect((await store.getSession(id("s1")))?.stats).toStrictEqual({});
      });

      it("refuses stats keys MongoDB would read as paths or operators with VALIDATION_FAILED", async () => {
        await store.createSession(session("s1", "ana", "bob", time(1)));
        for (const key of ["a.b", "$where", "nul\0"]) {
          await rejectsWith(store.saveCallStats(id("s1"), id("ana"), { [key]: 1 }), "VALIDATION_FAILED");
        }
        await rejectsWith(store.saveCallStats(id("s1"), id("ana"), null as unknown as CallStats), "VALIDATION_FAILED");
        expect((await store.getSession(id("s1")))?.stats).toStrictEqual({});
      });

      it("lists a user's sessions newest first, up to the limit, for both participants", async () => {
        await store.createSession(session("s1", "ana", "bob", time(1)));
        await store.createSession(session("s3", "cat", "ana", time(3)));
        await store.createSession(session("s2", "ana", "dan", time(2)));
        await store.createSession(session("s4", "bob", "cat", time(4)));
        const ids = async (who: string, limit: number) => (await store.listSessions(id(who), limit)).map((s) => s.id);
        expect(await ids("ana", 10)).toStrictEqual([id("s3"), id("s2"), id("s1")]);
        expect(await ids("ana", 2)).toStrictEqual([id("s3"), id("s2")]);
        expect(await ids("bob", 10)).toStrictEqual([id("s4"), id("s1")]);
        expect(await ids("ana", 0)).toStrictEqual([]);
        expect(await ids("nobody", 10)).toStrictEqual([]);
        const [latest] = await store.listSessions(id("cat"), 1);
        expect(latest).toStrictEqual({ ...session("s4", "bob", "cat", time(4)), endedAt: null, endReason: null, endedBy: null, stats: {} });
      });

      it("refuses a negative or fractional limit with VALIDATION_FAILED", async () => {
        await rejectsWith(store.listSessions(id("ana"), -1), "VALIDATION_FAILED");
        await rejectsWith(store.listSessions(id("ana"), 1.5), "VALIDATION_FAILED");
      });

      it("lists open sessions only", async () => {
        await store.createSession(session("open1", "ana", "bob", time(1)));
        await store.createSession(session("closed", "cat", "dan", time(2)));
        await store.createSession(session("open2", "eve", "fay", time(3)));
        await store.endSession(id("closed"), { at: time(4), reason: "ended", by: id("cat") });
        const mine = (await store.listOpenSessions()).filter((s) => s.id.startsWith(run));
        expect(mine.map((s) => s.id)).toStrictEqual([id("open1"), id("open2")]);
        expect(mine.every((s) => s.endedAt === null && s.endReason === null)).toBe(true);
      });

      it("returns null and empty lists for unknown sessions", async () => {
        expect(await store.getSession(id("nope"))).toBeNull();
        expect(await store.listChatMessages(id("nope"))).toStrictEqual([]);
        expect(await store.listReports(id("nope"))).toStrictEqual([]);
      });

      it("refuses bad sessions and bad ends with VALIDATION_FAILED", async () => {
        await rejectsWith(store.createSession(session("self", "ana", "ana", time(1))), "VALIDATION_FAILED");
        await rejectsWith(store.createSession(session("t", "ana", "bob", "2026-01-01")), "VALIDATION_FAILED");
        const unnamed = session("nn", "ana", "bob", time(1));
        unnamed.participants[1].nickname = "";
        await rejectsWith(store.createSession(unnamed), "VALIDATION_FAILED");
        expect(await store.getSession(id("self"))).toBeNull();
        expect(await store.getSession(id("nn"))).toBeNull();
        expect(await store.listSessions(id("ana"), 10)).toStrictEqual([]);
        await store.createSession(session("s1", "ana", "bob", time(1)));
        await rejectsWith(store.endSession(id("s1"), { at: time(2), reason: "bored" as "ended", by: null }), "VALIDATION_FAILED");
        await rejectsWith(store.endSession(id("s1"), { at: "later", reason: "ended", by: null }), "VALIDATION_FAILED");
        expect((await store.getSession(id("s1")))?.endedAt).toBeNull();
      });

      it("refuses a second session with the same id", async () => {
        await store.createSession(session("s1", "ana", "bob", time(1)));
        await expect(store.createSession(session("s1", "cat", "dan", time(2)))).rejects.toThrow();
        expect((await store.getSession(id("s1")))?.participants[0].userId).toBe(id("ana"));
        expect(await store.listSessions(id("cat"), 10)).toStrictEqual([]);
      });
    });

    describe("chat messages", () => {
      it("lists a session's messages oldest first, ties in the order they were added", async () => {
        await store.addChatMessage(chat("m3", "s1", "third", time(3)));
        await store.addChatMessage(chat("m1", "s1", "first", time(1)));
        await store.addChatMessage(chat("m2a", "s1", "same second, added first", time(2)));
        await store.addChatMessage(chat("m2b", "s1", "same second, added second", time(2)));
        await store.addChatMessage(chat("other", "s2", "elsewhere", time(0)));
        const list = await store.listChatMessages(id("s1"));
        expect(list.map((m) => m.id)).toStrictEqual([id("m1"), id("m2a"), id("m2b"), id("m3")]);
        expect(list[0]).toStrictEqual(chat("m1", "s1", "first", time(1)));
      });

      it("keeps unicode, quotes, newlines and text at the size limit intact", async () => {
        const tricky = `'); DROP TABLE chat_messages; -- "quoted" \\ back\nline\ttab $where {"$gt": ""} 🙂👍🏽 עברית`;
        const full = "🦊".repeat(limits.chatTextMax / 2);
        expect(full.length).toBe(limits.chatTextMax);
        await store.addChatMessage(chat("m1", "s1", tricky, time(1)));
        await store.addChatMessage(chat("m2", "s1", full, time(2)));
        expect((await store.listChatMessages(id("s1"))).map((m) => m.text)).toStrictEqual([tricky, full]);
      });

      it("refuses text over the limit, empty text and bad times with VALIDATION_FAILED", async () => {
        await rejectsWith(store.addChatMessage(chat("long", "s1", "x".repeat(limits.chatTextMax + 1), time(1))), "VALIDATION_FAILED");
        await rejectsWith(store.addChatMessage(chat("empty", "s1", "", time(1))), "VALIDATION_FAILED");
        await rejectsWith(store.addChatMessage(chat("t", "s1", "hi", "not a time")), "VALIDATION_FAILED");
        expect(await store.listChatMessages(id("s1"))).toStrictEqual([]);
      });
    });

    describe("reports", () => {
      it("lists a session's reports in order and returns them exactly", async () => {
        const second = report("r2", {
          reporterId: id("bob"),
          reportedId: id("ana"),
          reason: "harassment",
          details: "said ‘things’ 😠\nrepeatedly",
          at: time(12),
        });
        const first = report("r1", { at: time(11) });
        const full = report("r3", { reporterId: id("cy"), reason: "other", details: "d".repeat(limits.reportDetailsMax), at: time(13) });
        await store.addReport(second);
        await store.addReport(first);
        await store.addReport(full);
        await store.addReport(report("elsewhere", { sessionId: id("s2") }));
        expect(await store.listReports(id("s1"))).toStrictEqual([first, second, full]);
      });

      it("keeps one report per reporter and session: a second one is ALREADY_REPORTED and changes nothing", async () => {
        const first = report("r1");
        await store.addReport(first);
        await rejectsWith(store.addReport(report("r2", { reason: "harassment", at: time(11) })), "ALREADY_REPORTED");
        const results = await Promise.allSettled([3, 4, 5].map((n) => store.addReport(report(`r${n}`, { sessionId: id("s2"), at: time(n) }))));
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        expect(await store.listReports(id("s1"))).toStrictEqual([first]);
        expect(await store.listReports(id("s2"))).toHaveLength(1);
        // The other participant reports the same session, and the same reporter another one.
        await store.addReport(report("r6", { reporterId: id("bob"), reportedId: id("ana") }));
        expect(await store.listReports(id("s1"))).toHaveLength(2);
      });

      it("refuses unknown reasons and over-long details with VALIDATION_FAILED", async () => {
        await rejectsWith(store.addReport(report("r1", { reason: "boring" as "spam" })), "VALIDATION_FAILED");
        await rejectsWith(store.addReport(report("r2", { details: "d".repeat(limits.reportDetailsMax + 1) })), "VALIDATION_FAILED");
        expect(await store.listReports(id("s1"))).toStrictEqual([]);
      });
      it("lists reports since a time oldest first up to a limit, and counts each reporter of a user once", async () => {
        const mine = (list: ReportRecord[]) => list.filter((r) => r.id.startsWith(run));
        const r1 = report("r1", { at: time(11) });
        const r2 = report("r2", { at: time(12), sessionId: id("s2") });
        const r3 = report("r3", { at: time(13), reporterId: id("cat"), sessionId: id("s3") });
        const other = report("r4", { at: time(14), reporterId: id("bob"), reportedId: id("ana") });
        for (const r of [r3, other, r1, r2]) await store.addReport(r);
        expect(mine(await store.listReportsSince(time(12), 1000))).toStrictEqual([r2, r3, other]);
        expect(mine(await store.listReportsSince(null, 1000))).toStrictEqual([r1, r2, r3, other]);
        expect(await store.listReportsSince(time(0), 0)).toStrictEqual([]);
        // ana reported bob twice and cat once: two reporters.
        expect(await store.countReporters(id("bob"), time(0))).toBe(2);
        expect(await store.countReporters(id("bob"), time(13))).toBe(1);
        expect(await store.countReporters(id("nobody"), time(0))).toBe(0);
        await rejectsWith(store.listReportsSince("yesterday", 10), "VALIDATION_FAILED");
        await rejectsWith(store.listReportsSince(null, -1), "VALIDATION_FAILED");
      });
    });

    describe("bans", () => {
      const ban = (label: string, extra: Partial<BanRecord> = {}) => ({
        id: id(label),
        userId: id("bob"),
        reason: "spam in chat",
        by: "ops@example.com",
        at: time(10),
        until: null as string | null,
        ...extra,
      });

      it("a ban is in force from its time until its end or until lifted, and who lifted it is kept", async () => {
        const week = ban("b1", { until: time(40) });
        await store.addBan(week);
        expect(await store.activeBan(id("bob"), time(9))).toBeNull();
        expect(await store.activeBan(id("bob"), time(10))).toStrictEqual({ ...week, liftedAt: null, liftedBy: null });
        expect(await store.activeBan(id("bob"), time(40))).toBeNull();
        expect(await store.activeBan(id("ana"), time(20))).toBeNull();

        expect(await store.liftBans(id("bob"), { at: time(20), by: "alice" })).toBe(1);
        expect(await store.activeBan(id("bob"), time(21))).toBeNull();
        // Nothing left to lift.
        expect(await store.liftBans(id("bob"), { at: time(22), by: "alice" })).toBe(0);
        expect(await store.listBans(id("bob"))).toStrictEqual([{ ...week, liftedAt: time(20), liftedBy: "alice" }]);
      });

      it("of several bans in force, the one ending last counts; one without an end outlasts all", async () => {
        const short = ban("b1", { until: time(30) });
        const long = ban("b2", { at: time(11), until: time(50) });
        await store.addBan(short);
        await store.addBan(long);
        expect((await store.activeBan(id("bob"), time(12)))?.id).toBe(long.id);
        const forever = ban("b3", { at: time(12), reason: "again" });
        await store.addBan(forever);
        expect((await store.activeBan(id("bob"), time(13)))?.id).toBe(forever.id);
        expect((await store.listBans(id("bob"))).map((b) => b.id)).toStrictEqual([forever.id, long.id, short.id]);
        // Lifting lifts every ban in force, not an expired one.
        expect(await store.liftBans(id("bob"), { at: time(35), by: "alice" })).toBe(2);
        expect(await store.activeBan(id("bob"), time(36))).toBeNull();
        expect((await store.listBans(id("bob"))).find((b) => b.id === short.id)?.liftedAt).toBeNull();
      });

      it("refuses bad bans with VALIDATION_FAILED", async () => {
        await rejectsWith(store.addBan(ban("b1", { reason: "" })), "VALIDATION_FAILED");
        await rejectsWith(store.addBan(ban("b2", { reason: "r".repeat(limits.banReasonMax + 1) })), "VALIDATION_FAILED");
        await rejectsWith(store.addBan(ban("b3", { by: "not an operator!" })), "VALIDATION_FAILED");
        await rejectsWith(store.addBan(ban("b4", { until: time(5) })), "VALIDATION_FAILED");
        await rejectsWith(store.addBan(ban("b5", { at: "now" })), "VALIDATION_FAILED");
        await rejectsWith(store.liftBans(id("bob"), { at: time(1), by: "" }), "VALIDATION_FAILED");
        expect(await store.listBans(id("bob"))).toStrictEqual([]);
      });
    });

    describe("blocks", () => {
      it("lists blocks either way, each user once, and adding one twice is harmless", async () => {
        await store.addBlock(id("ana"), id("bob"), time(1));
        await store.addBlock(id("ana"), id("bob"), time(2));
        await store.addBlock(id("cat"), id("ana"), time(3));
        // Both directions between the same two users still name the other user once.
        await store.addBlock(id("bob"), id("ana"), time(4));
        const sorted = async (who: string) => (await store.listBlockedEitherWay(id(who))).sort();
        expect(await sorted("ana")).toStrictEqual([id("bob"), id("cat")].sort());
        expect(await sorted("bob")).toStrictEqual([id("ana")]);
        expect(await sorted("cat")).toStrictEqual([id("ana")]);
        expect(await sorted("nobody")).toStrictEqual([]);
      });

      it("refuses blocking yourself with VALIDATION_FAILED", async () => {
        await rejectsWith(store.addBlock(id("ana"), id("ana"), time(1)), "VALIDATION_FAILED");
        expect(await store.listBlockedEitherWay(id("ana"))).toStrictEqual([]);
      });
    });

    describe("concurrent calls (several nodes or sockets at once)", () => {
      it("ends a session exactly once when several ends race", async () => {
        await store.createSession(session("s1", "ana", "bob", time(1)));
        const reasons = ["ended", "next", "disconnected", "blocked"] as const;
        const results = await Promise.all(reasons.map((reason, i) => store.endSession(id("s1"), { at: time(2 + i), reason, by: null })));
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = reasons[results.indexOf(true)];
        expect((await store.getSession(id("s1")))?.endReason).toBe(winner);
      });

      it("keeps both participants' stats when they arrive at once", async () => {
        await store.createSession(session("s1", "ana", "bob", time(1)));
        await Promise.all([store.saveCallStats(id("s1"), id("ana"), { rttMs: 1 }), store.saveCallStats(id("s1"), id("bob"), { rttMs: 2 })]);
        expect((await store.getSession(id("s1")))?.stats).toStrictEqual({ [id("ana")]: { rttMs: 1 }, [id("bob")]: { rttMs: 2 } });
      });

      it("lets exactly one of several sign-ups with one email win", async () => {
        const email = `race.${run}@example.com`;
        const results = await Promise.allSettled(
          [1, 2, 3, 4].map((n) => store.createUser(user(`r${n}`, { kind: "registered", email: n % 2 ? email : email.toUpperCase(), passwordHash: "h" }))),
        );
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        for (const r of results) if (r.status === "rejected") expect((r.reason as VchatError).code).toBe("EMAIL_TAKEN");
      });

      it("adds the same block from several calls at once without an error", async () => {
        await Promise.all([1, 2, 3].map((n) => store.addBlock(id("ana"), id("bob"), time(n))));
        expect(await store.listBlockedEitherWay(id("bob"))).toStrictEqual([id("ana")]);
      });
    });

    describe("lifecycle", () => {
      it("answers ping while open and fails it once closed; close twice is harmless", async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        await store.close();
        await expect(store.ping()).rejects.toThrow();
        await store.close();
      });
    });
  });
}
