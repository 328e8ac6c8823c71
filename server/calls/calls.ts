import {
  VchatError,
  type CallStatsEvent,
  type ChatAck,
  type ChatSend,
  type ChatTyping,
  type EndReason,
  type JoinAck,
  type LobbyJoin,
  type ReportBody,
  type ServerToClientEvents,
  type SessionSummary,
  type Signal,
} from "../../protocol/index.ts";
import type { ServerConfig } from "../config.ts";
import { newId } from "../ids.ts";
import type { Logger } from "../log.ts";
import type { LiveSession, Matchmaker, Party } from "../matching/matchmaker.ts";
import type { Metrics } from "../metrics.ts";
import { consume, type RateLimits } from "../rate-limits.ts";
import type { ReportRecord, Store } from "../store/store.ts";
import { iceFor } from "../ice.ts";

type Told<E extends keyof ServerToClientEvents> = Parameters<ServerToClientEvents[E]>;

/**
 * What the call use cases need of the connections: a room per call whose members are sockets,
 * and telling sockets. Socket.IO's, across the nodes of a cluster, is `socketRooms` (`socket-rooms.ts`).
 */
export interface CallRooms {
  /** Whether this node's socket is in the call's room: the authorisation of every event naming a session. */
  isIn(socketId: string, sessionId: string): boolean;
  /** The calls whose rooms this node's socket is in. */
  callsOf(socketId: string): string[];
  /** Whether the socket is connected to this node. */
  isLocal(socketId: string): boolean;
  enter(socketIds: string[], sessionId: string): void;
  leave(socketIds: string[], sessionId: string): void;
  tell<E extends keyof ServerToClientEvents>(socketId: string, event: E, ...args: Told<E>): void;
  /** Tells every other member of the call. */
  relay<E extends keyof ServerToClientEvents>(from: string, sessionId: string, event: E, ...args: Told<E>): void;
  /** Tells every other socket of the user. */
  tellUser<E extends keyof ServerToClientEvents>(userId: string, except: string, event: E, ...args: Told<E>): void;
  /**
   * Ends a call of which nothing but its room is known (its live state is lost): `by` leaves at
   * once, and every other member leaves the room before it is told `call:ended`.
   */
  endThroughRoom(sessionId: string, reason: EndReason, by: string): void;
}

export interface CallDeps {
  config: ServerConfig;
  store: Store;
  matchmaker: Matchmaker;
  rooms: CallRooms;
  metrics: Metrics;
  limits: RateLimits;
  logger: Logger;
  /** False while a dependency is down: new matches are refused, calls in progress go on. */
  canMatch?: () => boolean;
  /** Told of every report once it is stored (automatic bans). */
  onReport?: (report: ReportRecord) => Promise<void>;
}

/**
 * The call use cases: lobby, matching, signaling, chat and call ends, for a party (a user on one
 * of their sockets). Routing uses server-side state only: a socket is in a call's room because
 * the server put it there, and every event naming a session is accepted only from a socket in
 * that room. Users the matchmaker pairs late (interest waits) are matched by a sweep that runs
 * from `start()` to `stop()`.
 */
export function createCalls({ config, store, matchmaker, rooms, metrics, limits, logger, canMatch = () => true, onReport }: CallDeps) {
  const log = logger.child({ module: "calls" });

  function member(party: Party, sessionId: string): void {
    if (!rooms.isIn(party.socketId, sessionId)) throw new VchatError("NOT_IN_SESSION", "you are not in this call");
  }

  /** The session had `party`'s user in it and is live no more (false when that cannot be told). */
  async function endedFor(party: Party, sessionId: string): Promise<boolean> {
    const [stored, live] = await Promise.all([store.getSession(sessionId), matchmaker.getSession(sessionId).catch(() => undefined)]);
    return live === null && !!stored?.participants.some((p) => p.userId === party.userId);
  }

  /** A match: both parties in the call's room, each told who the other is, the session stored. */
  async function begin(session: LiveSession): Promise<void> {
    const { offerer, answerer } = session;
    metrics.matches.inc();
    metrics.callsInProgress.inc({ relay_only: String(session.relayOnly) });
    metrics.matchWait.observe(session.waitedMs.offerer / 1000);
    metrics.matchWait.observe(session.waitedMs.answerer / 1000);
    rooms.enter([offerer.socketId, answerer.socketId], session.id);
    for (const [self, other, role] of [
      [offerer, answerer, "offerer"],
      [answerer, offerer, "answerer"],
    ] as const) {
      const ice = iceFor(config, self.userId, session.relayOnly);
      rooms.tell(self.socketId, "match:found", {
        sessionId: session.id,
        role,
        peer: { id: other.userId, nickname: other.nickname },
        iceServers: ice.iceServers,
        iceTransportPolicy: ice.iceTransportPolicy,
        sharedInterests: session.sharedInterests,
      });
    }
    await store
      .createSession({
        id: session.id,
        participants: [
          { userId: offerer.userId, nickname: offerer.nickname },
          { userId: answerer.userId, nickname: answerer.nickname },
        ],
        relayOnly: session.relayOnly,
        sharedInterests: session.sharedInterests,
        startedAt: new Date(session.startedAt).toISOString(),
      })
      .catch((err) => log.error({ err, sessionId: session.id }, "could not store the session"));
  }

  /** Ends a call once: tells the other party (or both when `by` is none) and closes the record. */
  async function finish(sessionId: string, reason: EndReason, by?: Party): Promise<boolean> {
    const live = await matchmaker.endSession(sessionId, { keepApart: reason === "next" || reason === "blocked" }).catch((err: unknown) => {
      // The matching state is unreachable (Redis down): the call still ends through its room below.
      if (err instanceof VchatError && err.code === "UNAVAILABLE") return null;
      throw err;
    });
    if (live) {
      metrics.callsInProgress.dec({ relay_only: String(live.relayOnly) });
      // Out of the room before being told (the adapter keeps this order across nodes), so nothing
      // a party sends after `call:ended` is relayed, and a join sent on `call:ended` is accepted.
      rooms.leave([live.offerer.socketId, live.answerer.socketId], sessionId);
      for (const party of [live.offerer, live.answerer]) {
        if (party.socketId !== by?.socketId) rooms.tell(party.socketId, "call:ended", { sessionId, reason });
      }
    } else {
      // No live state: the call ended already, or its state is unreachable or was lost with a
      // replaced Redis. A caller (`by`, checked a member of the room by every use case passing one)
      // still reaches the other party through the room, which the adapter keeps on every node.
      if (!by) return false;
      rooms.endThroughRoom(sessionId, reason, by.socketId);
    }
    await store
      .endSession(sessionId, { at: new Date().toISOString(), reason, by: by?.userId ?? null })
      .catch((err) => log.error({ err, sessionId }, "could not close the session record"));
    return true;
  }

  async function join(party: Party, prefs: LobbyJoin): Promise<JoinAck> {
    if (!canMatch()) throw new VchatError("UNAVAILABLE", "matching is paused while the service recovers; try again shortly");
    if (rooms.callsOf(party.socketId).length > 0) throw new VchatError("ALREADY_IN_CALL", "end or leave your call before joining the lobby");
    const [avoid, queued] = await Promise.all([store.listBlockedEitherWay(party.userId), matchmaker.isQueued(party.userId)]);
    const entry = { ...party, interests: prefs.interests ?? [], relayOnly: prefs.relayOnly ?? false, avoid };
    let session: LiveSession | null;
    try {
      session = await matchmaker.join(entry);
    } catch (err) {
      const stale = err instanceof VchatError && err.code === "ALREADY_IN_CALL" ? await matchmaker.staleSession?.(entry) : null;
      if (!stale) throw err;
      await finish(stale.id, "disconnected");
      session = await matchmaker.join(entry);
    }
    // The user waited already, maybe in another tab: this socket has their place now. Their other
    // sockets are told; one that was not waiting has nothing to give up and ignores it.
    if (queued) rooms.tellUser(party.userId, party.socketId, "lobby:left", { reason: "replaced" });
    if (session) await begin(session);
    return { waitingSince: new Date().toISOString() };
  }

  let sweepTimer: NodeJS.Timeout | undefined;
  let sweeping = false;
  async function sweep(): Promise<void> {
    if (sweeping || !canMatch()) return;
    sweeping = true;
    try {
      for (const session of await matchmaker.sweep()) await begin(session);
    } catch (err) {
      log.error({ err }, "sweep failed");
    } finally {
      sweeping = false;
    }
  }

  return {
    /** Joins the lobby with these preferences; a match made at once is begun before the ack. */
    join,

    /** Leaves the queue if this socket holds the user's place: another tab's Stop leaves a waiting one alone. */
    async leave(party: Party): Promise<void> {
      await matchmaker.leave(party.userId, party.socketId);
    },

    signal(party: Party, signal: Signal): void {
      member(party, signal.sessionId);
      rooms.relay(party.socketId, signal.sessionId, "signal", signal);
      metrics.signalsRelayed.inc();
    },

    async chat(party: Party, { sessionId, text }: ChatSend): Promise<ChatAck> {
      member(party, sessionId);
      await consume(limits.chat, party.socketId);
      const message = { id: newId(), sessionId, from: party.userId, text, at: new Date().toISOString() };
      await store.addChatMessage(message);
      rooms.relay(party.socketId, sessionId, "chat:message", message);
      return { id: message.id, at: message.at };
    },

    typing(party: Party, { sessionId, typing }: ChatTyping): void {
      member(party, sessionId);
      rooms.relay(party.socketId, sessionId, "chat:typing", { sessionId, typing });
    },

    /** Leaves the call for a new partner: the peer is told `next`, the caller waits again with `prefs`. */
    async next(party: Party, sessionId: string, prefs: LobbyJoin): Promise<JoinAck> {
      member(party, sessionId);
      await finish(sessionId, "next", party);
      // Out of the room before the ack, whichever way the call ended.
      rooms.leave([party.socketId], sessionId);
      return join(party, prefs);
    },

    async end(party: Party, sessionId: string): Promise<void> {
      // Both parties hanging up at once (two bots at the end of a run, two people together): the
      // first ends the call and takes the other out of its room. For one of the call's users,
      // ending a call that is over already is done, not an error.
      if (!rooms.isIn(party.socketId, sessionId) && (await endedFor(party, sessionId))) return;
      member(party, sessionId);
      await finish(sessionId, "ended", party);
      rooms.leave([party.socketId], sessionId);
    },

    /** Client-side call quality, accepted from either participant during or after the call; `statsPerMinute` per user. */
    async stats(party: Party, { sessionId, stats }: CallStatsEvent): Promise<void> {
      await consume(limits.stats, party.userId);
      const session = await store.getSession(sessionId);
      if (!session?.participants.some((p) => p.userId === party.userId)) {
        throw new VchatError("NOT_IN_SESSION", "you were not in this call");
      }
      await store.saveCallStats(sessionId, party.userId, stats);
    },

    /** The socket is going away: leave the queue, end its call for the peer. */
    async disconnecting(party: Party): Promise<void> {
      const sessions = rooms.callsOf(party.socketId);
      // Redis down must not keep the peer from hearing of the end; the queue entry then expires.
      // Only the queue entry of this socket: the same user waiting in another tab keeps their place.
      await matchmaker.leave(party.userId, party.socketId).catch((err) => log.warn({ err }, "could not take a leaving user out of the queue"));
      for (const sessionId of sessions) await finish(sessionId, "disconnected", party);
    },

    async history(userId: string): Promise<SessionSummary[]> {
      const sessions = await store.listSessions(userId, 50);
      return sessions.map((s) => {
        const peer = s.participants.find((p) => p.userId !== userId) ?? s.participants[0];
        return {
          id: s.id,
          peer: { id: peer.userId, nickname: peer.nickname },
          startedAt: s.startedAt,
          endedAt: s.endedAt,
          endReason: s.endReason,
          relayOnly: s.relayOnly,
        };
      });
    },

    /** Files a report; one per reporter and call (ALREADY_REPORTED), `reportsPerMinute` per user. */
    async report(userId: string, body: ReportBody): Promise<{ id: string }> {
      await consume(limits.reports, userId);
      const session = await store.getSession(body.sessionId);
      const reported = session?.participants.find((p) => p.userId !== userId);
      if (!session || !reported || !session.participants.some((p) => p.userId === userId)) {
        throw new VchatError("NOT_FOUND", "no such call of yours");
      }
      const id = newId();
      const record: ReportRecord = {
        id,
        sessionId: body.sessionId,
        reporterId: userId,
        reportedId: reported.userId,
        reason: body.reason,
        details: body.details ?? null,
        at: new Date().toISOString(),
      };
      await store.addReport(record);
      log.info({ reportId: id, sessionId: body.sessionId, reason: body.reason }, "report filed");
      await onReport?.(record).catch((err) => log.error({ err, reportId: id }, "could not act on a report"));
      return { id };
    },

    /** Blocks a user; a call in progress with them ends at once. `blocksPerMinute` per user. */
    async block(userId: string, blockedId: string): Promise<void> {
      if (blockedId === userId) throw new VchatError("VALIDATION_FAILED", "you cannot block yourself");
      await consume(limits.blocks, userId);
      if (!(await store.getUser(blockedId))) throw new VchatError("NOT_FOUND", "no such user");
      await store.addBlock(userId, blockedId, new Date().toISOString());
      // A join of either that read their blocks before this one was stored may be on its way to
      // the matchmaker: it cannot pair them now. One that paired them already is found below.
      await matchmaker.keepApart(userId, blockedId);
      const live = await matchmaker.sessionOf(userId);
      if (!live) return;
      const [self, other] = live.offerer.userId === userId ? [live.offerer, live.answerer] : [live.answerer, live.offerer];
      if (other.userId === blockedId) await finish(live.id, "blocked", self);
    },

    /** Ends a call from outside a socket handler (a crashed node's calls), telling both parties. */
    endCall(sessionId: string, reason: EndReason): Promise<boolean> {
      return finish(sessionId, reason);
    },

    /** Starts matching the users who waited past their interest wait (every `tuning.sweepIntervalMs`). */
    start(): void {
      sweepTimer ??= setInterval(() => void sweep(), config.tuning.sweepIntervalMs);
      sweepTimer.unref();
    },

    /** Stops matching, and ends this node's calls with `server-shutdown` for both parties. */
    async stop(): Promise<void> {
      clearInterval(sweepTimer);
      for (const session of await matchmaker.liveSessions()) {
        if (rooms.isLocal(session.offerer.socketId) || rooms.isLocal(session.answerer.socketId)) {
          await finish(session.id, "server-shutdown");
        }
      }
    },
  };
}

export type Calls = ReturnType<typeof createCalls>;
