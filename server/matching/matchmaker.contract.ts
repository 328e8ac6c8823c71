import fc from "fast-check";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { LiveSession, Matchmaker, MatchmakerOptions, QueueEntry } from "./matchmaker.ts";

/**
 * The behaviour every Matchmaker keeps, run against each implementation (memory, Redis).
 * Time is explicit (`now` arguments) so the interest wait and the rematch cooldown are tested
 * without sleeping.
 *
 * @example
 * matchmakerContract("memory", async (opts) => createMemoryMatchmaker(opts));
 */
export function matchmakerContract(name: string, create: (opts: MatchmakerOptions) => Promise<Matchmaker>, cleanup?: () => Promise<void>): void {
  const WAIT = 5000;
  const COOLDOWN = 15000;
  const T0 = 1_700_000_000_000;

  describe(`Matchmaker contract: ${name}`, () => {
    const open: Matchmaker[] = [];
    async function make(opts: Partial<MatchmakerOptions> = {}): Promise<Matchmaker> {
      const mm = await create({ interestWaitMs: WAIT, rematchCooldownMs: COOLDOWN, ...opts });
      open.push(mm);
      return mm;
    }
    afterEach(async () => {
      await Promise.all(open.splice(0).map((mm) => mm.close()));
    });
    if (cleanup) afterAll(cleanup);

    it("pairs first come, first served: a newcomer gets the longest waiter, who offers", async () => {
      const mm = await make();
      expect(await mm.join(user("a"), T0)).toBeNull();
      const s1 = await mm.join(user("b"), T0 + 700);
      expect(s1).not.toBeNull();
      expect(s1!.offerer).toEqual({ userId: "a", socketId: "sock-a", nickname: "nick-a" });
      expect(s1!.answerer).toEqual({ userId: "b", socketId: "sock-b", nickname: "nick-b" });
      expect(s1!.waitedMs).toEqual({ offerer: 700, answerer: 0 });
      expect(s1!.startedAt).toBe(T0 + 700);
      expect(s1!.sharedInterests).toEqual([]);
      expect(s1!.relayOnly).toBe(false);

      // Three waiting users who block each other; the next newcomer takes the earliest.
      expect(await mm.join(user("c", { avoid: ["d", "e"] }), T0 + 1000)).toBeNull();
      expect(await mm.join(user("d", { avoid: ["e"] }), T0 + 1001)).toBeNull();
      expect(await mm.join(user("e"), T0 + 1002)).toBeNull();
      expect(await mm.queueLength()).toBe(3);
      const s2 = await mm.join(user("f"), T0 + 1003);
      expect(pairOf(s2)).toEqual(["c", "f"]);
      const s3 = await mm.join(user("g"), T0 + 1004);
      expect(pairOf(s3)).toEqual(["d", "g"]);
      const s4 = await mm.join(user("h"), T0 + 1005);
      expect(pairOf(s4)).toEqual(["e", "h"]);
      expect(await mm.queueLength()).toBe(0);
    });

    it("serves users who joined in the same millisecond in arrival order", async () => {
      const mm = await make();
      await mm.join(user("a", { interests: ["x"] }), T0);
      await mm.join(user("b"), T0);
      expect(pairOf(await mm.join(user("c"), T0 + WAIT))).toEqual(["a", "c"]);
      expect(pairOf(await mm.join(user("d"), T0 + WAIT + 1))).toEqual(["b", "d"]);
      // The same with the plain user first.
      const t1 = T0 + 2 * WAIT;
      await mm.join(user("e"), t1);
      await mm.join(user("f", { interests: ["x"] }), t1);
      expect(pairOf(await mm.join(user("g"), t1 + WAIT))).toEqual(["e", "g"]);
      expect(await mm.leave("f")).toBe(true);
      // A re-join that finds a partner: the one who came first still offers.
      await mm.join(user("h", { avoid: ["i"] }), T0 + 4 * WAIT);
      await mm.join(user("i"), T0 + 4 * WAIT);
      const s = await mm.join(user("h"), T0 + 4 * WAIT);
      expect(s?.offerer.userId).toBe("h");
      expect(s?.answerer.userId).toBe("i");
    });

    it("makes the call relay-only when either party asks", async () => {
      const mm = await make();
      await mm.join(user("a", { relayOnly: true }), T0);
      expect((await mm.join(user("b"), T0 + 1))!.relayOnly).toBe(true);
      await mm.join(user("c"), T0 + 2);
      expect((await mm.join(user("d", { relayOnly: true }), T0 + 3))!.relayOnly).toBe(true);
    });

    it("gives each session a random, URL-safe id", async () => {
      const mm = await make();
      const ids = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const s = await mm.join(user(`u${i}`), T0 + i);
        if (s) {
          expect(s.id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
          ids.add(s.id);
        }
      }
      expect(ids.size).toBe(20);
    });

    it("pairs users who share an interest and reports the shared ones", async () => {
      const mm = await make();
      expect(await mm.join(user("a", { interests: ["music"] }), T0)).toBeNull();
      expect(await mm.join(user("b", { interests: ["chess", "go"] }), T0 + 10)).toBeNull();
      // No interests: open, but a and b still wait for a sharer.
      expect(await mm.join(user("c"), T0 + 20)).toBeNull();
      const s = await mm.join(user("d", { interests: ["Go", "chess", "tea"] }), T0 + 30);
      expect(pairOf(s)).toEqual(["b", "d"]);
      expect([...s!.sharedInterests].sort()).toEqual(["chess", "go"]);
      expect(s!.offerer.userId).toBe("b");
      expect(await mm.isQueued("a")).toBe(true);
      expect(await mm.isQueued("c")).toBe(true);
    });

    it("falls back to anyone once the interest wait has run out (sweep)", async () => {
      const mm = await make();
      await mm.join(user("a", { interests: ["music"] }), T0);
      await mm.join(user("c"), T0 + 20);
      expect(await mm.sweep(T0 + WAIT - 1)).toEqual([]);
      const made = await mm.sweep(T0 + WAIT);
      expect(made).toHaveLength(1);
      expect(made[0]!.offerer.userId).toBe("a");
      expect(made[0]!.answerer.userId).toBe("c");
      expect(made[0]!.sharedInterests).toEqual([]);
      expect(made[0]!.waitedMs).toEqual({ offerer: WAIT, answerer: WAIT - 20 });
      expect(await mm.queueLength()).toBe(0);
    });

    it("lets a newcomer without interests take a waiter whose interest wait ran out", async () => {
      const mm = await make();
      await mm.join(user("a", { interests: ["music"] }), T0);
      expect(await mm.join(user("b"), T0 + WAIT - 1)).toBeNull();
      // b is waiting too; the next open newcomer takes the earliest open waiter: a.
      const s = await mm.join(user("c"), T0 + WAIT);
      expect(pairOf(s)).toEqual(["a", "c"]);
    });

    it("keeps a newcomer with interests for sharers until its own wait runs out", async () => {
      const mm = await make();
      await mm.join(user("a"), T0);
      expect(await mm.join(user("b", { interests: ["x"] }), T0 + 100)).toBeNull();
      expect(await mm.sweep(T0 + 100 + WAIT - 1)).toEqual([]);
      const made = await mm.sweep(T0 + 100 + WAIT);
      expect(made.map(pairOf)).toEqual([["a", "b"]]);
    });

    it("sweeps open users in FIFO order", async () => {
      const mm = await make();
      await mm.join(user("a", { interests: ["1"] }), T0);
      await mm.join(user("b", { interests: ["2"] }), T0 + 1);
      await mm.join(user("c", { interests: ["3"] }), T0 + 2);
      await mm.join(user("d", { interests: ["4"] }), T0 + 3);
      await mm.join(user("e", { interests: ["5"] }), T0 + 4);
      const made = await mm.sweep(T0 + 3 + WAIT);
      expect(made.map(pairOf)).toEqual([
        ["a", "b"],
        ["c", "d"],
      ]);
      expect(await mm.isQueued("e")).toBe(true);
    });

    it("never pairs a user with themselves", async () => {
      const mm = await make();
      expect(await mm.join(user("a"), T0)).toBeNull();
      expect(await mm.join(user("a"), T0 + 1)).toBeNull();
      expect(await mm.sweep(T0 + WAIT * 2)).toEqual([]);
      expect(await mm.queueLength()).toBe(1);
    });

    it("never pairs users when either avoids the other, in join and in sweep", async () => {
      const mm = await make();
      await mm.join(user("a", { avoid: ["b"] }), T0);
      expect(await mm.join(user("b"), T0 + 1)).toBeNull();
      await mm.join(user("c", { interests: ["x"] }), T0 + 2);
      expect(await mm.join(user("d", { interests: ["x"], avoid: ["c"] }), T0 + 3)).toBeNull();
      // The other direction: the newcomer is the one who is avoided.
      await mm.join(user("e", { interests: ["y"], avoid: ["f"] }), T0 + 4);
      expect(await mm.join(user("f", { interests: ["y"] }), T0 + 5)).toBeNull();
      const made = await mm.sweep(T0 + 10 * WAIT);
      for (const s of made) {
        expect(pairOf(s)).not.toEqual(["a", "b"]);
        expect(pairOf(s)).not.toEqual(["c", "d"]);
        expect(pairOf(s)).not.toEqual(["e", "f"]);
      }
      expect(made.map(pairOf)).toEqual([
        ["a", "c"],
        ["b", "d"],
      ]);
      expect(await mm.queueLength()).toBe(2);
    });

    it("keeps two users who left each other apart for the cooldown, both ways", async () => {
      const mm = await make();
      await mm.join(user("a"), T0);
      const s = (await mm.join(user("b"), T0 + 1))!;
      const ended = await mm.endSession(s.id, { keepApart: true, now: T0 + 100 });
      expect(ended?.id).toBe(s.id);

      expect(await mm.join(user("b"), T0 + 200)).toBeNull();
      expect(await mm.join(user("a"), T0 + 300)).toBeNull();
      expect(await mm.sweep(T0 + 1000)).toEqual([]);
      // Others are not kept from them.
      const withC = await mm.join(user("c"), T0 + 1100);
      expect(pairOf(withC)).toEqual(["b", "c"]);
      await mm.endSession(withC!.id, { now: T0 + 1200 });
      expect(await mm.join(user("b"), T0 + 1300)).toBeNull();
      // Without keepApart, b and c may meet again at once.
      expect(pairOf(await mm.join(user("c", { avoid: ["a"] }), T0 + 1400))).toEqual(["b", "c"]);
      expect(pairOf(await mm.join(user("b2"), T0 + 1500))).toEqual(["a", "b2"]);
    });

    it("keeps two users apart on request (a block racing a join) for the cooldown, never shortening it", async () => {
      const mm = await make();
      await mm.join(user("a"), T0);
      await mm.keepApart("b", "a", { now: T0 + 10 });
      expect(await mm.join(user("b"), T0 + 20)).toBeNull();
      expect(await mm.sweep(T0 + 30)).toEqual([]);
      // A shorter request later leaves the longer time as it was.
      await mm.keepApart("a", "b", { now: T0 + 10 - COOLDOWN / 2 });
      expect(await mm.sweep(T0 + 10 + COOLDOWN - 1)).toEqual([]);
      // Others are not kept from them.
      const withC = await mm.join(user("c"), T0 + 40);
      expect(pairOf(withC)).toEqual(["a", "c"]);
      await mm.endSession(withC!.id, { now: T0 + 45 });
      expect(await mm.join(user("a"), T0 + 50)).toBeNull();
      expect(pairOf((await mm.sweep(T0 + 10 + COOLDOWN))[0] ?? null)).toEqual(["a", "b"]);
    });

    it("pairs two users kept apart once the cooldown has expired", async () => {
      const mm = await make();
      await mm.join(user("a"), T0);
      const s = (await mm.join(user("b"), T0 + 1))!;
      await mm.endSession(s.id, { keepApart: true, now: T0 + 100 });
      expect(await mm.join(user("a"), T0 + 200)).toBeNull();
      expect(await mm.join(user("b"), T0 + 300)).toBeNull();
      expect(await mm.sweep(T0 + 100 + COOLDOWN - 1)).toEqual([]);
      const made = await mm.sweep(T0 + 100 + COOLDOWN);
      expect(made.map(pairOf)).toEqual([["a", "b"]]);
      expect(made[0]!.offerer.userId).toBe("a");
      // And a newcomer after expiry pairs directly.
      await mm.endSession(made[0]!.id, { keepApart: true, now: T0 + 20_000 });
      await mm.join(user("a"), T0 + 20_000 + COOLDOWN);
      expect(pairOf(await mm.join(user("b"), T0 + 20_000 + COOLDOWN + 1))).toEqual(["a", "b"]);
    });

    it("treats a re-join while queued as an update that keeps the place and the wait", async () => {
      const mm = await make();
      await mm.join(user("a", { avoid: ["b"] }), T0);
      await mm.join(user("b"), T0 + 1);
      // a joins again from another socket with another nickname: same place in the queue.
      expect(await mm.join(user("a", { avoid: ["b"], socketId: "sock-a2", nickname: "A2" }), T0 + 2)).toBeNull();
      expect(await mm.queueLength()).toBe(2);
      const s = await mm.join(user("c"), T0 + 3);
      expect(s!.offerer).toEqual({ userId: "a", socketId: "sock-a2", nickname: "A2" });
      expect(s!.waitedMs.offerer).toBe(3);

      // The interest wait counts from the first join, not the re-join.
      await mm.join(user("d", { interests: ["x"] }), T0 + 10);
      await mm.join(user("d", { interests: ["y"] }), T0 + 4000);
      const open = await mm.join(user("e"), T0 + 10 + WAIT);
      expect(pairOf(open)).toEqual(["b", "e"]); // b waited longer and is open
      const open2 = await mm.join(user("f"), T0 + 10 + WAIT);
      expect(pairOf(open2)).toEqual(["d", "f"]);
    });

    it("gives a user queued again with `since` their old place and interest wait; a later or repeated `since` changes nothing", async () => {
      const mm = await make();
      await mm.join(user("a", { avoid: ["b", "c"] }), T0 + 100);
      await mm.join(user("b", { avoid: ["c"] }), T0 + 300);
      // c waited since T0 + 200 before the matchmaker lost them: between a and b.
      expect(await mm.join(user("c", { since: T0 + 200 }), T0 + 1000)).toBeNull();
      expect(pairOf(await mm.join(user("d"), T0 + 1001))).toEqual(["a", "d"]);
      const s = await mm.join(user("e"), T0 + 1002);
      expect(pairOf(s)).toEqual(["c", "e"]);
      expect(s!.offerer.userId).toBe("c");
      expect(s!.waitedMs.offerer).toBe(802);

      // A `since` in the future is now; a re-join keeps the place it has.
      await mm.join(user("f", { since: T0 + 99_999, avoid: ["b"] }), T0 + 2000);
      await mm.join(user("f", { since: T0, avoid: ["b"] }), T0 + 2001);
      expect((await mm.join(user("g"), T0 + 2002))!.offerer.userId).toBe("b");
      expect((await mm.join(user("h"), T0 + 2003))!.waitedMs.offerer).toBe(3);

      // The interest wait counts from `since`: open at once when it ran out meanwhile.
      await mm.join(user("i", { interests: ["x"], since: T0 + 3000 - WAIT }), T0 + 3000);
      expect(pairOf(await mm.join(user("j"), T0 + 3001))).toEqual(["i", "j"]);
    });

    it("pairs a re-joining user whose new interests match a waiter", async () => {
      const mm = await make();
      await mm.join(user("a", { interests: ["x"] }), T0);
      expect(await mm.join(user("b", { interests: ["y"] }), T0 + 1)).toBeNull();
      const s = await mm.join(user("b", { interests: ["y", "x"] }), T0 + 2);
      expect(pairOf(s)).toEqual(["a", "b"]);
      expect(s!.sharedInterests).toEqual(["x"]);
    });

    it("leaves with a socket id only when the user waits with that socket", async () => {
      const mm = await make();
      await mm.join(user("a"), T0);
      expect(await mm.leave("a", "another-tab")).toBe(false);
      expect(await mm.isQueued("a")).toBe(true);
      expect(await mm.leave("nobody", "x")).toBe(false);
      expect(await mm.leave("a", user("a").socketId)).toBe(true);
      expect(await mm.isQueued("a")).toBe(false);
      expect(await mm.queueLength()).toBe(0);
    });

    it("takes a user out of the queue on leave", async () => {
      const mm = await make();
      await mm.join(user("a"), T0);
      expect(await mm.isQueued("a")).toBe(true);
      expect(await mm.leave("a")).toBe(true);
      expect(await mm.leave("a")).toBe(false);
      expect(await mm.leave("nobody")).toBe(false);
      expect(await mm.isQueued("a")).toBe(false);
      expect(await mm.queueLength()).toBe(0);
      expect(await mm.join(user("b"), T0 + 1)).toBeNull();
      expect(await mm.sweep(T0 + WAIT)).toEqual([]);
    });

    it("knows live sessions by id and by user, and ends each exactly once", async () => {
      const mm = await make();
      await mm.join(user("a"), T0);
      const s = (await mm.join(user("b"), T0 + 1))!;
      await mm.join(user("c"), T0 + 2);
      const t = (await mm.join(user("d"), T0 + 3))!;
      expect(await mm.getSession(s.id)).toEqual(s);
      expect(await mm.sessionOf("a")).toEqual(s);
      expect(await mm.sessionOf("b")).toEqual(s);
      expect(await mm.sessionOf("d")).toEqual(t);
      expect(await mm.sessionOf("zz")).toBeNull();
      expect(await mm.getSession("no-such-session")).toBeNull();
      expect(await mm.isQueued("a")).toBe(false);
      expect((await mm.liveSessions()).map((x) => x.id).sort()).toEqual([s.id, t.id].sort());

      const results = await Promise.all(Array.from({ length: 8 }, () => mm.endSession(s.id, { keepApart: true })));
      expect(results.filter((r) => r !== null)).toEqual([s]);
      expect(await mm.endSession(s.id)).toBeNull();
      expect(await mm.getSession(s.id)).toBeNull();
      expect(await mm.sessionOf("a")).toBeNull();
      expect(await mm.sessionOf("b")).toBeNull();
      expect((await mm.liveSessions()).map((x) => x.id)).toEqual([t.id]);
    });

    it("refuses to queue a user who is in a live call and ends nothing by itself", async () => {
      const mm = await make();
      await mm.join(user("a"), T0);
      const s = (await mm.join(user("b"), T0 + 1))!;
      await expect(mm.join(user("a"), T0 + 2)).rejects.toMatchObject({ code: "ALREADY_IN_CALL" });
      expect(await mm.getSession(s.id)).toEqual(s);
      expect(await mm.isQueued("a")).toBe(false);
    });

    it("pairs everyone exactly once when many join at the same moment", async () => {
      const mm = await make();
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => mm.join(user(`u${i}`), T0 + i)));
      const sessions = results.filter((s): s is LiveSession => s !== null);
      expect(sessions).toHaveLength(100);
      const seen = new Set<string>();
      for (const s of sessions) {
        for (const p of [s.offerer.userId, s.answerer.userId]) {
          expect(seen.has(p)).toBe(false);
          seen.add(p);
        }
      }
      expect(seen.size).toBe(200);
      expect(await mm.queueLength()).toBe(0);
    });

    it("keeps its invariants under random joins, leaves, ends and sweeps", async () => {
      const users = Array.from({ length: 12 }, (_, i) => `p${i}`);
      const topics = ["a", "b", "c"];
      const op = fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({
            kind: fc.constant("join" as const),
            user: fc.constantFrom(...users),
            interests: fc.subarray(topics),
            avoid: fc.subarray(users, { maxLength: 3 }),
            relayOnly: fc.boolean(),
          }),
        },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant("leave" as const), user: fc.constantFrom(...users) }) },
        {
          weight: 2,
          arbitrary: fc.record({ kind: fc.constant("end" as const), pick: fc.nat(), keepApart: fc.boolean() }),
        },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant("sweep" as const) }) },
      );
      const step = fc.integer({ min: 0, max: 3000 });
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(op, step), { minLength: 5, maxLength: 40 }), async (ops) => {
          const mm = await create({ interestWaitMs: WAIT, rematchCooldownMs: COOLDOWN });
          try {
            let now = T0;
            // The model: who waits since when with what entry, and which pairs are kept apart.
            const queued = new Map<string, { since: number; entry: QueueEntry }>();
            const live = new Map<string, LiveSession>();
            const apartUntil = new Map<string, number>();
            const key = (a: string, b: string) => [a, b].sort().join("|");

            const check = (s: LiveSession) => {
              const a = s.offerer.userId;
              const b = s.answerer.userId;
              expect(a).not.toBe(b);
              const qa = queued.get(a);
              const qb = queued.get(b);
              expect(qa && qb).toBeTruthy();
              expect(qa!.entry.avoid).not.toContain(b);
              expect(qb!.entry.avoid).not.toContain(a);
              expect((apartUntil.get(key(a, b)) ?? 0) <= now).toBe(true);
              expect(qa!.since <= qb!.since).toBe(true);
              if (s.sharedInterests.length === 0) {
                for (const q of [qa!, qb!]) {
                  expect(q.entry.interests.length === 0 || now - q.since >= WAIT).toBe(true);
                }
              } else {
                for (const i of s.sharedInterests) {
                  expect(qa!.entry.interests).toContain(i);
                  expect(qb!.entry.interests).toContain(i);
                }
              }
              for (const other of live.values()) {
                for (const p of [a, b]) {
                  expect([other.offerer.userId, other.answerer.userId]).not.toContain(p);
                }
              }
              queued.delete(a);
              queued.delete(b);
              live.set(s.id, s);
            };

            for (const [o, dt] of ops) {
              now += dt;
              if (o.kind === "join") {
                const inCall = [...live.values()].some((s) => s.offerer.userId === o.user || s.answerer.userId === o.user);
                const entry = user(o.user, { interests: o.interests, avoid: o.avoid, relayOnly: o.relayOnly });
                if (inCall) {
                  await expect(mm.join(entry, now)).rejects.toMatchObject({ code: "ALREADY_IN_CALL" });
                  continue;
                }
                const prev = queued.get(o.user);
                queued.set(o.user, { since: prev?.since ?? now, entry });
                const s = await mm.join(entry, now);
                if (s) check(s);
              } else if (o.kind === "leave") {
                expect(await mm.leave(o.user)).toBe(queued.delete(o.user));
              } else if (o.kind === "end") {
                const ids = [...live.keys()];
                if (ids.length === 0) continue;
                const id = ids[o.pick % ids.length]!;
                const s = live.get(id)!;
                expect((await mm.endSession(id, { keepApart: o.keepApart, now }))?.id).toBe(id);
                live.delete(id);
                if (o.keepApart) apartUntil.set(key(s.offerer.userId, s.answerer.userId), now + COOLDOWN);
              } else {
                for (const s of await mm.sweep(now)) check(s);
              }
              expect(await mm.queueLength()).toBe(queued.size);
            }
            expect((await mm.liveSessions()).map((s) => s.id).sort()).toEqual([...live.keys()].sort());
            for (const u of users) {
              expect(await mm.isQueued(u)).toBe(queued.has(u));
              const mine = [...live.values()].find((s) => s.offerer.userId === u || s.answerer.userId === u);
              expect((await mm.sessionOf(u))?.id).toBe(mine?.id);
            }
          } finally {
            await mm.close();
          }
        }),
        { numRuns: 60 },
      );
    });

    it("pairs exactly as the plain reference model of the rules (FIFO, interests, blocks, cooldown)", async () => {
      const users = Array.from({ length: 10 }, (_, i) => `r${i}`);
      const topics = ["a", "b", "c", "d"];
      const op = fc.oneof(
        {
          weight: 6,
          arbitrary: fc.record({
            kind: fc.constant("join" as const),
            user: fc.constantFrom(...users),
            interests: fc.subarray(topics, { maxLength: 2 }),
            avoid: fc.subarray(users, { maxLength: 2 }),
            relayOnly: fc.boolean(),
          }),
        },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant("leave" as const), user: fc.constantFrom(...users) }) },
        {
          weight: 2,
          arbitrary: fc.record({ kind: fc.constant("end" as const), pick: fc.nat(), keepApart: fc.boolean() }),
        },
        { weight: 2, arbitrary: fc.record({ kind: fc.constant("sweep" as const) }) },
      );
      // Many steps of 0 ms: ties in join time must still be served in arrival order.
      const step = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 4000 }));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(op, step), { minLength: 5, maxLength: 40 }), async (ops) => {
          const mm = await create({ interestWaitMs: WAIT, rematchCooldownMs: COOLDOWN });
          const model = referenceModel(WAIT, COOLDOWN);
          const ids = new Map<string, string>(); // model session key → real session id
          const expectSame = (real: LiveSession | null, want: ModelSession | null) => {
            if (!want) {
              expect(real).toBeNull();
              return;
            }
            expect(real).not.toBeNull();
            expect({
              offerer: real!.offerer.userId,
              answerer: real!.answerer.userId,
              sharedInterests: [...real!.sharedInterests].sort(),
              relayOnly: real!.relayOnly,
              waitedMs: real!.waitedMs,
              startedAt: real!.startedAt,
            }).toEqual({ ...want, sharedInterests: [...want.sharedInterests].sort() });
            ids.set(`${want.offerer}|${want.answerer}`, real!.id);
          };
          try {
            let now = T0;
            for (const [o, dt] of ops) {
              now += dt;
              if (o.kind === "join") {
                const entry = user(o.user, { interests: o.interests, avoid: o.avoid, relayOnly: o.relayOnly });
                const want = model.join(entry, now);
                if (want === "busy") {
                  await expect(mm.join(entry, now)).rejects.toMatchObject({ code: "ALREADY_IN_CALL" });
                } else {
                  expectSame(await mm.join(entry, now), want);
                }
              } else if (o.kind === "leave") {
                expect(await mm.leave(o.user)).toBe(model.leave(o.user));
              } else if (o.kind === "end") {
                const ended = model.end(o.pick, o.keepApart, now);
                if (!ended) continue;
                const id = ids.get(`${ended.offerer}|${ended.answerer}`)!;
                expect((await mm.endSession(id, { keepApart: o.keepApart, now }))?.id).toBe(id);
              } else {
                const want = model.sweep(now);
                const real = await mm.sweep(now);
                expect(real).toHaveLength(want.length);
                real.forEach((r, i) => expectSame(r, want[i]!));
              }
              expect(await mm.queueLength()).toBe(model.queueLength());
            }
          } finally {
            await mm.close();
          }
        }),
        { numRuns: 60 },
      );
    });
  });
}

interface ModelSession {
  offerer: string;
  answerer: string;
  sharedInterests: string[];
  relayOnly: boolean;
  waitedMs: { offerer: number; answerer: number };
  startedAt: number;
}

/**
 * The matching rules written as plainly as possible (arrays, linear scans) to check the real
 * implementations against: FIFO by first join, a re-join keeps the place, compatible means
 * different users, no block either way, not kept apart, and a shared interest or both open.
 */
function referenceModel(waitMs: number, cooldownMs: number) {
  interface Waiter {
    entry: QueueEntry;
    since: number;
  }
  let waiting: Waiter[] = [];
  const live: ModelSession[] = [];
  const apart = new Map<string, number>();
  const key = (a: string, b: string) => [a, b].sort().join("|");
  const open = (w: Waiter, now: number) => w.entry.interests.length === 0 || now - w.since >= waitMs;
  const compatible = (a: Waiter, b: Waiter, now: number) =>
    a.entry.userId !== b.entry.userId &&
    !a.entry.avoid.includes(b.entry.userId) &&
    !b.entry.avoid.includes(a.entry.userId) &&
    (apart.get(key(a.entry.userId, b.entry.userId)) ?? -Infinity) <= now &&
    (a.entry.interests.some((i) => b.entry.interests.includes(i)) || (open(a, now) && open(b, now)));
  const pair = (a: Waiter, b: Waiter, now: number): ModelSession => {
    // `waiting` is in FIFO order: the one found first waited longer.
    const [o, w] = waiting.indexOf(a) < waiting.indexOf(b) ? [a, b] : [b, a];
    waiting = waiting.filter((x) => x !== a && x !== b);
    const s: ModelSession = {
      offerer: o.entry.userId,
      answerer: w.entry.userId,
      sharedInterests: o.entry.interests.filter((i) => w.entry.interests.includes(i)),
      relayOnly: o.entry.relayOnly || w.entry.relayOnly,
      waitedMs: { offerer: now - o.since, answerer: now - w.since },
      startedAt: now,
    };
    live.push(s);
    return s;
  };
  const partnerOf = (self: Waiter, now: number) => waiting.find((w) => w !== self && compatible(self, w, now));
  return {
    join(entry: QueueEntry, now: number): ModelSession | null | "busy" {
      if (live.some((s) => s.offerer === entry.userId || s.answerer === entry.userId)) return "busy";
      let self = waiting.find((w) => w.entry.userId === entry.userId);
      if (self) self.entry = entry;
      else waiting.push((self = { entry, since: now }));
      const partner = partnerOf(self, now);
      return partner ? pair(self, partner, now) : null;
    },
    leave(userId: string): boolean {
      const before = waiting.length;
      waiting = waiting.filter((w) => w.entry.userId !== userId);
      return waiting.length < before;
    },
    sweep(now: number): ModelSession[] {
      const made: ModelSession[] = [];
      for (const w of [...waiting]) {
        if (!waiting.includes(w)) continue;
        const partner = partnerOf(w, now);
        if (partner) made.push(pair(w, partner, now));
      }
      return made;
    },
    end(pick: number, keepApart: boolean, now: number): ModelSession | null {
      if (live.length === 0) return null;
      const [s] = live.splice(pick % live.length, 1);
      if (keepApart) apart.set(key(s!.offerer, s!.answerer), now + cooldownMs);
      return s!;
    },
    queueLength: () => waiting.length,
  };
}

/** A queue entry for tests: ids and names derived from the user id. */
export function user(userId: string, over: Partial<QueueEntry> = {}): QueueEntry {
  return {
    userId,
    socketId: `sock-${userId}`,
    nickname: `nick-${userId}`,
    interests: [],
    relayOnly: false,
    avoid: [],
    ...over,
  };
}

/** The two user ids of a session, sorted, for comparing pairs. */
function pairOf(s: LiveSession | null | undefined): [string, string] | null {
  if (!s) return null;
  return [s.offerer.userId, s.answerer.userId].sort() as [string, string];
}
