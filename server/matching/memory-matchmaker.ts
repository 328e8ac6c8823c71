import { randomUUID } from "node:crypto";
import { VchatError } from "../../protocol/index.ts";
import { defaultMatchmakerOptions, type LiveSession, type Matchmaker, type MatchmakerOptions, type QueueEntry } from "./matchmaker.ts";

/** One queued user as the matchmaker keeps it. */
interface Waiting {
  entry: QueueEntry;
  avoid: Set<string>;
  /** When the user first joined (kept across re-joins): the FIFO key and the start of the interest wait. */
  joinedAt: number;
  /** Tie-breaker for equal `joinedAt` and the order of the ordered maps below. */
  seq: number;
}

/**
 * The in-process matchmaker of `vchat dev`: everything in Maps, every pairing one synchronous
 * step (no await between choosing a partner and taking both out of the queue), so concurrent
 * callers can never hand one user to two sessions.
 *
 * Cost: JS Maps iterate in insertion order, so each ordered map below is a FIFO queue. A join
 * without interests looks at the head of `plain` (the earliest open waiters) and stops at the
 * first compatible one: O(1) in the common case, O(skipped) when blocks or cooldowns skip some.
 *
 * `now` must not go backwards between calls (Date.now() by default); tests pass it explicitly.
 *
 * @example
 * const mm = createMemoryMatchmaker({ interestWaitMs: 3000 });
 * await mm.join({ userId: "a", socketId: "s1", nickname: "A", interests: [], relayOnly: false, avoid: [] });
 * const session = await mm.join({ userId: "b", socketId: "s2", nickname: "B", interests: [], relayOnly: false, avoid: [] });
 * // session.offerer.userId === "a": a waited longer
 */
export function createMemoryMatchmaker(opts: Partial<MatchmakerOptions> = {}): Matchmaker {
  const options: MatchmakerOptions = { ...defaultMatchmakerOptions, ...opts };
  const { interestWaitMs, rematchCooldownMs } = options;

  /** Everyone waiting, in join order. */
  const queue = new Map<string, Waiting>();
  /** Waiters without interests (open from the start), in join order. */
  const plain = new Map<string, Waiting>();
  /** Waiters with interests, in join order: the ones whose wait ran out are a prefix. */
  const interested = new Map<string, Waiting>();
  /** Interest → waiters with that interest, in join order. */
  const buckets = new Map<string, Map<string, Waiting>>();

  const sessions = new Map<string, LiveSession>();
  const sessionByUser = new Map<string, string>();
  /** "a\u0000b" (sorted ids) → until when the two are kept apart; insertion order ≈ expiry order. */
  const apart = new Map<string, number>();

  let seq = 0;
  /** The latest `joinedAt` so far: a join at or after it goes to the end of every ordered map. */
  let latest = -Infinity;
  let closed = false;

  const pairKey = (a: string, b: string): string => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);

  function isOpen(w: Waiting, now: number): boolean {
    return w.entry.interests.length === 0 || now - w.joinedAt >= interestWaitMs;
  }

  /** Kept apart until `until`, or longer when set so already. */
  function setApart(a: string, b: string, until: number): void {
    const key = pairKey(a, b);
    if ((apart.get(key) ?? -Infinity) >= until) return;
    // Re-insert so the map stays ordered by expiry for pruneApart.
    apart.delete(key);
    apart.set(key, until);
  }

  function keptApart(a: string, b: string, now: number): boolean {
    const until = apart.get(pairKey(a, b));
    return until !== undefined && until > now;
  }

  function shares(a: Waiting, b: Waiting): boolean {
    const [small, large] = a.entry.interests.length <= b.entry.interests.length ? [a, b] : [b, a];
    return small.entry.interests.some((i) => large.entry.interests.includes(i));
  }

  /** Everything except the interest rule: blocks either way and the rematch cooldown. */
  function mayMeet(a: Waiting, b: Waiting, now: number): boolean {
    if (a.entry.userId === b.entry.userId) return false;
    if (a.avoid.has(b.entry.userId) || b.avoid.has(a.entry.userId)) return false;
    return !keptApart(a.entry.userId, b.entry.userId, now);
  }

  function compatible(a: Waiting, b: Waiting, now: number): boolean {
    if (!mayMeet(a, b, now)) return false;
    return (isOpen(a, now) && isOpen(b, now)) || shares(a, b);
  }

  /** Earlier of two candidates by FIFO order. */
  function earlier(a: Waiting | undefined, b: Waiting | undefined): Waiting | undefined {
    if (!a) return b;
    if (!b) return a;
    return a.joinedAt < b.joinedAt || (a.joinedAt === b.joinedAt && a.seq < b.seq) ? a : b;
  }

  /** The first waiter in `map` (FIFO) that passes `ok`, skipping `self`. */
  function firstIn(map: Map<string, Waiting>, self: Waiting, ok: (w: Waiting) => boolean): Waiting | undefined {
    for (const w of map.values()) {
      if (w !== self && ok(w)) return w;
    }
    return undefined;
  }

  /** The earliest waiter `self` may be paired with at `now`. */
  function findPartner(self: Waiting, now: number): Waiting | undefined {
    let best: Waiting | undefined;
    // Sharers: the head of each of self's buckets.
    for (const interest of self.entry.interests) {
      const bucket = buckets.get(interest);
      if (bucket)
        best = earlier(
          best,
          firstIn(bucket, self, (w) => mayMeet(self, w, now)),
        );
    }
    if (isOpen(self, now)) {
      best = earlier(
        best,
        firstIn(plain, self, (w) => mayMeet(self, w, now)),
      );
      // Interested waiters whose wait ran out are a prefix of `interested`: stop at the first still waiting.
      for (const w of interested.values()) {
        if (!isOpen(w, now)) break;
        if (w !== self && mayMeet(self, w, now)) {
          best = earlier(best, w);
          break;
        }
      }
    }
    return best;
  }

  /** Sets `w` into an ordered map at its FIFO place (the end for new joins; a rebuild for a re-join or an earlier `since`). */
  function insertOrdered(map: Map<string, Waiting>, w: Waiting): void {
    // Fast path: a fresh join is the latest; only re-joins that change interests and users
    // queued again with their old place rebuild.
    if (map.size === 0 || (w.seq === seq && w.joinedAt >= latest)) {
      map.set(w.entry.userId, w);
      return;
    }
    const all = [...map.values(), w].sort((x, y) => x.joinedAt - y.joinedAt || x.seq - y.seq);
    map.clear();
    for (const x of all) map.set(x.entry.userId, x);
  }

  function index(w: Waiting): void {
    if (w.entry.interests.length === 0) {
      insertOrdered(plain, w);
      return;
    }
    insertOrdered(interested, w);
    for (const interest of w.entry.interests) {
      let bucket = buckets.get(interest);
      if (!bucket) buckets.set(interest, (bucket = new Map()));
      insertOrdered(bucket, w);
    }
  }

  function unindex(w: Waiting): void {
    const id = w.entry.userId;
    plain.delete(id);
    interested.delete(id);
    for (const interest of w.entry.interests) {
      const bucket = buckets.get(interest);
      if (!bucket) continue;
      bucket.delete(id);
      if (bucket.size === 0) buckets.delete(interest);
    }
  }

  function remove(w: Waiting): void {
    queue.delete(w.entry.userId);
    unindex(w);
  }

  function pair(a: Waiting, b: Waiting, now: number): LiveSession {
    const [offerer, answerer] = earlier(a, b) === a ? [a, b] : [b, a];
    remove(a);
    remove(b);
    const answererInterests = new Set(answerer.entry.interests);
    const session: LiveSession = {
      // Random, URL-safe and unguessable: session ids are capabilities in logs and URLs.
      id: randomUUID(),
      offerer: { userId: offerer.entry.userId, socketId: offerer.entry.socketId, nickname: offerer.entry.nickname },
      answerer: { userId: answerer.entry.userId, socketId: answerer.entry.socketId, nickname: answerer.entry.nickname },
      relayOnly: offerer.entry.relayOnly || answerer.entry.relayOnly,
      sharedInterests: offerer.entry.interests.filter((i) => answererInterests.has(i)),
      startedAt: now,
      waitedMs: { offerer: Math.max(0, now - offerer.joinedAt), answerer: Math.max(0, now - answerer.joinedAt) },
    };
    sessions.set(session.id, session);
    sessionByUser.set(offerer.entry.userId, session.id);
    sessionByUser.set(answerer.entry.userId, session.id);
    return session;
  }

  function pruneApart(now: number): void {
    for (const [key, until] of apart) {
      if (until > now) break;
      apart.delete(key);
    }
  }

  function assertOpen(): void {
    if (closed) throw new VchatError("UNAVAILABLE", "The matchmaker is closed");
  }

  return {
    async join(input, now = Date.now()) {
      assertOpen();
      const userId = input.userId;
      if (sessionByUser.has(userId)) {
        // The caller refuses this first; ending the call here would surprise the peer.
        throw new VchatError("ALREADY_IN_CALL", "You are already in a call");
      }
      const entry = normalise(input);
      let self = queue.get(userId);
      if (self) {
        // Re-join: new details, same place in the queue and the same start of the interest wait.
        const sameInterests = self.entry.interests.length === entry.interests.length && self.entry.interests.every((i) => entry.interests.includes(i));
        if (!sameInterests) unindex(self);
        self.entry = entry;
        self.avoid = new Set(entry.avoid);
        if (!sameInterests) index(self);
      } else {
        self = { entry, avoid: new Set(entry.avoid), joinedAt: Math.min(now, entry.since ?? now), seq: ++seq };
        insertOrdered(queue, self);
        index(self);
        latest = Math.max(latest, self.joinedAt);
      }
      const partner = findPartner(self, now);
      return partner ? pair(self, partner, now) : null;
    },

    async leave(userId, socketId) {
      const w = queue.get(userId);
      if (!w || (socketId !== undefined && w.entry.socketId !== socketId)) return false;
      remove(w);
      return true;
    },

    async sweep(now = Date.now()) {
      assertOpen();
      pruneApart(now);
      const made: LiveSession[] = [];
      // FIFO: the longest waiter picks first. Pairs leave the queue at once, so a snapshot is safe.
      for (const w of [...queue.values()]) {
        if (!queue.has(w.entry.userId)) continue;
        const partner = findPartner(w, now);
        if (partner && compatible(w, partner, now)) made.push(pair(w, partner, now));
      }
      return made;
    },

    async queueLength() {
      return queue.size;
    },

    async isQueued(userId) {
      return queue.has(userId);
    },

    async getSession(sessionId) {
      return sessions.get(sessionId) ?? null;
    },

    async sessionOf(userId) {
      const id = sessionByUser.get(userId);
      return id === undefined ? null : (sessions.get(id) ?? null);
    },

    async endSession(sessionId, opts = {}) {
      const now = opts.now ?? Date.now();
      const session = sessions.get(sessionId);
      if (!session) return null;
      sessions.delete(sessionId);
      sessionByUser.delete(session.offerer.userId);
      sessionByUser.delete(session.answerer.userId);
      if (opts.keepApart) setApart(session.offerer.userId, session.answerer.userId, now + rematchCooldownMs);
      return session;
    },

    async keepApart(a, b, opts = {}) {
      assertOpen();
      setApart(a, b, (opts.now ?? Date.now()) + rematchCooldownMs);
    },

    async liveSessions() {
      return [...sessions.values()];
    },

    async close() {
      closed = true;
      queue.clear();
      plain.clear();
      interested.clear();
      buckets.clear();
      sessions.clear();
      sessionByUser.clear();
      apart.clear();
    },
  };
}

/** Interests lower-cased and deduplicated, as the interface promises; a defensive copy of the caller's entry. */
export function normalise(entry: QueueEntry): QueueEntry {
  const interests = [...new Set(entry.interests.map((i) => i.trim().toLowerCase()).filter((i) => i.length > 0))];
  return {
    userId: entry.userId,
    socketId: entry.socketId,
    nickname: entry.nickname,
    interests,
    relayOnly: entry.relayOnly === true,
    avoid: [...new Set(entry.avoid)],
    ...(entry.since !== undefined && Number.isFinite(entry.since) ? { since: Math.floor(entry.since) } : {}),
  };
}
