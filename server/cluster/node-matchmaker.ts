import { VchatError } from "../../protocol/index.ts";
import type { LiveSession, QueueEntry } from "../matching/matchmaker.ts";
import type { RedisMatchmaker } from "../matching/redis-matchmaker.ts";

/** One of this node's waiting users. */
export interface Waiter {
  socketId: string;
  /** When they started waiting (Unix ms): a join after Redis lost them gets this place back. */
  since: number;
}

/**
 * The shared Redis matchmaker as one node uses it. The queue lives in Redis, but a node must
 * remember which of its own users wait: to keep them alive there (`touch`), and to queue them
 * again when Redis comes back empty (a replaced server) — they did nothing wrong and must not be
 * left waiting forever. This is the memory; the keeper (`keeper.ts`) gives it back to Redis.
 */
export interface NodeMatchmaker extends RedisMatchmaker {
  staleSession(entry: QueueEntry): Promise<LiveSession | null>;
  /** This node's users that joined and were not matched or taken out since, by user id. */
  readonly queued: Map<string, Waiter>;
  /** Sessions whose end could not reach Redis; `retryEnds` ends them once it is back. */
  readonly pendingEnds: Set<string>;
  retryEnds(): Promise<void>;
}

export interface NodeMatchmakerOptions {
  /** A session this young is never treated as stale: its room join may still be on its way. @default 5000 */
  staleAfterMs: number;
}

export function nodeMatchmaker(inner: RedisMatchmaker, opts: Partial<NodeMatchmakerOptions> = {}): NodeMatchmaker {
  const staleAfterMs = opts.staleAfterMs ?? 5000;
  const queued = new Map<string, Waiter>();
  const pendingEnds = new Set<string>();

  const forget = (session: LiveSession) => {
    queued.delete(session.offerer.userId);
    queued.delete(session.answerer.userId);
  };

  return {
    ...inner,
    queued,
    pendingEnds,

    async join(input: QueueEntry, now?: number) {
      // A user this node knows as waiting keeps their place, even when Redis has lost it.
      const known = queued.get(input.userId);
      const entry = known ? { ...input, since: known.since } : input;
      // Known as waiting before the script runs: another node may match the user as soon as the
      // script has queued them, and its room join can reach this node before the script's reply.
      // Set after the reply, the entry would outlive that match.
      queued.set(entry.userId, { socketId: entry.socketId, since: known?.since ?? Math.min(now ?? Date.now(), entry.since ?? Infinity) });
      try {
        const session = await inner.join(entry, now);
        if (session) forget(session);
        return session;
      } catch (err) {
        if (known) queued.set(entry.userId, known);
        else queued.delete(entry.userId);
        throw err;
      }
    },

    async leave(userId, socketId) {
      if (socketId === undefined || queued.get(userId)?.socketId === socketId) queued.delete(userId);
      return inner.leave(userId, socketId);
    },

    async sweep(now) {
      const sessions = await inner.sweep(now);
      sessions.forEach(forget);
      return sessions;
    },

    async endSession(sessionId, endOpts) {
      try {
        return await inner.endSession(sessionId, endOpts);
      } catch (err) {
        if (err instanceof VchatError && err.code === "UNAVAILABLE" && pendingEnds.size < 100_000) pendingEnds.add(sessionId);
        throw err;
      }
    },

    async staleSession(entry) {
      const session = await inner.sessionOf(entry.userId);
      if (!session) return null;
      const mine = session.offerer.userId === entry.userId ? session.offerer : session.answerer;
      // Another socket of the same user (a second tab) may well be in that call: leave it alone.
      if (mine.socketId !== entry.socketId || Date.now() - session.startedAt < staleAfterMs) return null;
      return session;
    },

    async retryEnds() {
      for (const id of [...pendingEnds]) {
        await inner.endSession(id);
        pendingEnds.delete(id);
      }
    },
  };
}
