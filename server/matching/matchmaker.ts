import { defaultTuning } from "../config.ts";

/**
 * Matching and live call state. `vchat dev` keeps it in process (`memory-matchmaker.ts`);
 * `vchat serve` keeps it in Redis so that many nodes share one queue. Every pairing is one atomic
 * step in either implementation; a contract suite (`matchmaker.contract.ts`) runs against both.
 */

export interface QueueEntry {
  userId: string;
  /** The socket that joined: the address the match is delivered to and the only sender allowed. */
  socketId: string;
  nickname: string;
  /** Lower-cased, deduplicated. Empty: matched with anyone. */
  interests: string[];
  relayOnly: boolean;
  /** Users never to be paired with this one (blocks either way); recent partners are added by the matchmaker. */
  avoid: string[];
  /**
   * When the user started waiting (Unix ms), for a user queued again after the matchmaker lost
   * them (a Redis replaced without its data): they get back their place in the FIFO and their
   * interest wait. Later than `now`, or for a user who is queued already, it changes nothing.
   */
  since?: number;
}

export interface Party {
  userId: string;
  socketId: string;
  nickname: string;
}

/** A call in progress. `offerer` is the party that waited longer. */
export interface LiveSession {
  id: string;
  offerer: Party;
  answerer: Party;
  relayOnly: boolean;
  sharedInterests: string[];
  /** Unix milliseconds. */
  startedAt: number;
  /** How long each party waited in the queue, in milliseconds. */
  waitedMs: { offerer: number; answerer: number };
}

export interface MatchmakerOptions {
  /** How long a user with interests waits for someone sharing one before anyone will do. @default 5000 */
  interestWaitMs: number;
  /** How long two users who just left each other (`call:next`) are kept apart. @default 15000 */
  rematchCooldownMs: number;
}

export const defaultMatchmakerOptions: MatchmakerOptions = {
  interestWaitMs: defaultTuning.interestWaitMs,
  rematchCooldownMs: defaultTuning.rematchCooldownMs,
};

export interface Matchmaker {
  /**
   * Puts a user in the queue and pairs them at once when a compatible user waits (FIFO: the one
   * who waited longest). Joining again while queued updates the entry and keeps the place.
   * Returns the new session, or null when the user now waits.
   */
  join(entry: QueueEntry, now?: number): Promise<LiveSession | null>;
  /**
   * Takes a user out of the queue; false when they were not in it. With `socketId`, only when
   * they wait with that very socket: a user who came back on another socket (another tab, a
   * reconnection through another node) keeps their place. One atomic step, like a join.
   */
  leave(userId: string, socketId?: string): Promise<boolean>;
  /** Pairs waiting users whose interest wait ran out. Called on a timer. */
  sweep(now?: number): Promise<LiveSession[]>;
  /** Users waiting now. */
  queueLength(): Promise<number>;
  isQueued(userId: string): Promise<boolean>;

  getSession(sessionId: string): Promise<LiveSession | null>;
  /** The live session the user is in, if any. */
  sessionOf(userId: string): Promise<LiveSession | null>;
  /**
   * Ends a live session exactly once; returns it, or null when it had ended already. With
   * `keepApart` the two users are not paired again for `rematchCooldownMs` from `now`
   * (default Date.now(), explicit in tests like the `now` of `join` and `sweep`).
   */
  endSession(sessionId: string, opts?: { keepApart?: boolean; now?: number }): Promise<LiveSession | null>;
  /**
   * Keeps two users from being paired for `rematchCooldownMs` from `now` (a longer time already
   * set stays). For a block just stored: a join that read the user's blocks before it was stored
   * reaches the matchmaker within that time, and cannot pair the two.
   */
  keepApart(a: string, b: string, opts?: { now?: number }): Promise<void>;
  /**
   * The session a join was refused for (ALREADY_IN_CALL) when it is stale: this very socket is
   * in it, yet (as its caller checked) in no call room, so its end was lost (a Redis outage, a
   * match reply that never arrived). The caller ends it, so the user is not refused until the
   * session's TTL. Only where that can happen (a node of a cluster).
   */
  staleSession?(entry: QueueEntry): Promise<LiveSession | null>;
  /** All live sessions (for graceful shutdown). */
  liveSessions(): Promise<LiveSession[]>;
  close(): Promise<void>;
}
