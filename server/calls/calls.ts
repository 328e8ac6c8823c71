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
  type SessionSummary,
  type Signal,
} from "../../protocol/index.ts";
import type { ServerConfig } from "../config.ts";
import { newId } from "../ids.ts";
import type { Logger } from "../log.ts";
import type { LiveSession, Matchmaker, Party } from "../matching/matchmaker.ts";
import type { Metrics } from "../metrics.ts";
import { consume, type RateLimits } from "../rate-limits.ts";
import { endingRoomOf, isCallRoom, roomOf, userRoom, type VchatServer, type VchatSocket } from "../signaling/types.ts";
import type { ReportRecord, Store } from "../store/store.ts";
import { iceFor } from "../ice.ts";

export interface CallDeps {
  config: ServerConfig;
  store: Store;
  matchmaker: Matchmaker;
  io: VchatServer;
  metrics: Metrics;
  limits: RateLimits;
  logger: Logger;
  /** False while a dependency is down: new matches are refused, calls in progress go on. */
  canMatch?: () => boolean;
  /** Told of every report once it is stored (automatic bans). */
  onReport?: (report: ReportRecord) => Promise<void>;
}

/**
 * The call use cases: lobby, matching, signaling, chat and call ends. Routing uses server-side
 * state only: a socket is in a call's room because the server put it there, and every event
 * naming a session is accepted only from a socket in that room.
 */
export function createCalls({ config, store, matchmaker, io, metrics, limits, logger, canMatch = () => true, onReport }: CallDeps) {
  const log = logger.child({ module: "calls" });

  function member(socket: VchatSocket, sessionId: string): string {
    const room = roomOf(sessionId);
    if (!socket.rooms.has(room)) throw new VchatError("NOT_IN_SESSION", "you are not in this call");
    return room;
  }

  /**
   * Puts sockets in a room or takes them out: this node's sockets directly, the others through
   * the adapter. On a cluster each adapter call is one message every node reads, and half the
   * pairs or more have both users on one node.
   */
  function moveSockets(action: "join" | "leave", socketIds: string[], room: string): void {
    const local = io.of("/").sockets;
    const remote: string[] = [];
    for (const id of socketIds) {
      const socket = local.get(id);
      if (!socket) remote.push(id);
      else if (action === "join") void socket.join(room);
      else void socket.leave(room);
    }
    if (remote.length === 0) return;
    if (action === "join") io.in(remote).socketsJoin(room);
    else io.in(remote).socketsLeave(room);
  }

  async function start(session: LiveSession): Promise<void> {
    const { offerer, answerer } = session;
    metrics.matches.inc();
    metrics.callsInProgress.inc({ relay_only: String(session.relayOnly) });
    metrics.matchWait.observe(session.waitedMs.offerer / 1000);
    metrics.matchWait.observe(session.waitedMs.answerer / 1000);
    moveSockets("join", [offerer.socketId, answerer.socketId], roomOf(session.id));
    const policy = session.relayOnly;
    for (const [self, other, role] of [
      [offerer, answerer, "offerer"],
      [answerer, offerer, "answerer"],
    ] as const) {
      const ice = iceFor(config, self.userId, policy);
      io.to(self.socketId).emit("match:found", {
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

  /**
   * Ends a call known only by its room. Its members are unknown here, so they are marked first
   * (an ending room), then leave the call room, then are told: every node applies the adapter's
   * messages in this order, and a member joining the lobby the moment it is told is out of the call.
   */
  function endThroughRoom(sessionId: string, reason: EndReason, by: string): void {
    const room = roomOf(sessionId);
    const ending = endingRoomOf(sessionId);
    io.in(room).except(by).socketsJoin(ending);
    io.in(room).socketsLeave(room);
    io.to(ending).emit("call:ended", { sessionId, reason });
    io.in(ending).socketsLeave(ending);
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
      // a party sends after `call:ended` is relayed.
      moveSockets("leave", [live.offerer.socketId, live.answerer.socketId], roomOf(sessionId));
      for (const party of [live.offerer, live.answerer]) {
        if (party.socketId !== by?.socketId) io.to(party.socketId).emit("call:ended", { sessionId, reason });
      }
    } else {
      // No live state: the call ended already, or its state is unreachable or was lost with a
      // replaced Redis. A caller (`by`, checked a member of the room by every use case passing one)
      // still reaches the other party through the room, which the adapter keeps on every node.
      if (!by) return false;
      endThroughRoom(sessionId, reason, by.socketId);
    }
    await store
      .endSession(sessionId, { at: new Date().toISOString(), reason, by: by?.userId ?? null })
      .catch((err) => log.error({ err, sessionId }, "could not close the session record"));
    return true;
  }

  const partyOf = (socket: VchatSocket): Party => ({
    userId: socket.data.user.id,
    socketId: socket.id,
    nickname: socket.data.user.nickname,
  });

  async function join(socket: VchatSocket, prefs: LobbyJoin): Promise<JoinAck> {
    if (!canMatch()) throw new VchatError("UNAVAILABLE", "matching is paused while the service recovers; try again shortly");
    if ([...socket.rooms].some(isCallRoom)) throw new VchatError("ALREADY_IN_CALL", "end or leave your call before joining the lobby");
    socket.data.lobby = prefs;
    const user = socket.data.user;
    const [avoid, queued] = await Promise.all([store.listBlockedEitherWay(user.id), matchmaker.isQueued(user.id)]);
    const entry = { ...partyOf(socket), interests: prefs.interests ?? [], relayOnly: prefs.relayOnly ?? false, avoid };
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
    if (queued) io.to(userRoom(user.id)).except(socket.id).emit("lobby:left", { reason: "replaced" });
    if (session) await start(session);
    return { waitingSince: new Date().toISOString() };
  }

  let sweeping = false;
  const sweepTimer = setInterval(async () => {
    if (sweeping || !canMatch()) return;
    sweeping = true;
    try {
      for (const session of await matchmaker.sweep()) await start(session);
    } catch (err) {
      log.error({ err }, "sweep failed");
    } finally {
      sweeping = false;
    }
  }, config.tuning.sweepIntervalMs);
  sweepTimer.unref();

  return {
    join,

    /** Leaves the queue if this socket holds the user's place: another tab's Stop leaves a waiting one alone. */
    async leave(socket: VchatSocket): Promise<void> {
      await matchmaker.leave(socket.data.user.id, socket.id);
    },

    signal(socket: VchatSocket, signal: Signal): void {
      const room = member(socket, signal.sessionId);
      socket.to(room).emit("signal", signal);
      metrics.signalsRelayed.inc();
    },

    async chat(socket: VchatSocket, { sessionId, text }: ChatSend): Promise<ChatAck> {
      const room = member(socket, sessionId);
      await consume(limits.chat, socket.id);
      const message = { id: newId(), sessionId, from: socket.data.user.id, text, at: new Date().toISOString() };
      await store.addChatMessage(message);
      socket.to(room).emit("chat:message", message);
      return { id: message.id, at: message.at };
    },

    typing(socket: VchatSocket, { sessionId, typing }: ChatTyping): void {
      socket.to(member(socket, sessionId)).emit("chat:typing", { sessionId, typing });
    },

    /** Leaves the call for a new partner: the peer is told `next`, the caller waits again. */
    async next(socket: VchatSocket, { sessionId }: { sessionId: string }): Promise<JoinAck> {
      member(socket, sessionId);
      await finish(sessionId, "next", partyOf(socket));
      // The cluster adapter applies socketsLeave locally only once it is published: leave now, so join sees it.
      void socket.leave(roomOf(sessionId));
      return join(socket, socket.data.lobby ?? {});
    },

    async end(socket: VchatSocket, { sessionId }: { sessionId: string }): Promise<void> {
      member(socket, sessionId);
      await finish(sessionId, "ended", partyOf(socket));
      // As in `next`: out of the room before the ack, not once the adapter has published it.
      void socket.leave(roomOf(sessionId));
    },

    /** Client-side call quality, accepted from either participant during or after the call; `statsPerMinute` per user. */
    async stats(socket: VchatSocket, { sessionId, stats }: CallStatsEvent): Promise<void> {
      await consume(limits.stats, socket.data.user.id);
      const session = await store.getSession(sessionId);
      if (!session?.participants.some((p) => p.userId === socket.data.user.id)) {
        throw new VchatError("NOT_IN_SESSION", "you were not in this call");
      }
      await store.saveCallStats(sessionId, socket.data.user.id, stats);
    },

    /** The socket is going away: leave the queue, end its call for the peer. */
    async disconnecting(socket: VchatSocket): Promise<void> {
      const rooms = [...socket.rooms].filter(isCallRoom);
      // Redis down must not keep the peer from hearing of the end; the queue entry then expires.
      // Only the queue entry of this socket: the same user waiting in another tab keeps their place.
      await matchmaker.leave(socket.data.user.id, socket.id).catch((err) => log.warn({ err }, "could not take a leaving user out of the queue"));
      for (const room of rooms) await finish(room.slice(2), "disconnected", partyOf(socket));
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
      const live = await matchmaker.sessionOf(userId);
      if (!live) return;
      const [self, other] = live.offerer.userId === userId ? [live.offerer, live.answerer] : [live.answerer, live.offerer];
      if (other.userId === blockedId) await finish(live.id, "blocked", self);
    },

    /** Ends a call from outside a socket handler (a crashed node's calls), telling both parties. */
    endCall(sessionId: string, reason: EndReason): Promise<boolean> {
      return finish(sessionId, reason);
    },

    /** Ends this node's calls with `server-shutdown` for both parties and stops matching. */
    async shutdown(): Promise<void> {
      clearInterval(sweepTimer);
      const local = io.of("/").sockets;
      for (const session of await matchmaker.liveSessions()) {
        if (local.has(session.offerer.socketId) || local.has(session.answerer.socketId)) {
          await finish(session.id, "server-shutdown");
        }
      }
    },
  };
}

export type Calls = ReturnType<typeof createCalls>;
