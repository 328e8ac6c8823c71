import type { LobbyJoin } from "../../protocol/index.ts";
import { partyOf } from "../calls/socket-rooms.ts";
import type { Logger } from "../log.ts";
import type { Party } from "../matching/matchmaker.ts";
import { isCallRoom, type VchatServer, type VchatSocket } from "../signaling/types.ts";
import type { NodeMatchmaker } from "./node-matchmaker.ts";

/** What the keeper needs of the call use cases. */
export interface KeeperCalls {
  join(party: Party, prefs: LobbyJoin): Promise<unknown>;
}

export interface KeeperDeps {
  io: VchatServer;
  matchmaker: NodeMatchmaker;
  calls: KeeperCalls;
  logger: Logger;
}

export interface Keeper {
  /**
   * Once per heartbeat: touches this node's waiting users in Redis, queues again at their old
   * place those lost to it on two beats running, and ends the calls whose end Redis missed.
   */
  keep(): Promise<void>;
}

/** Carried in socket.data across a dropped connection (connection state recovery persists it). */
interface Requeue {
  requeue?: boolean;
}

/**
 * The keeper of this node's waiting users. The queue lives in Redis, which may lose it (a server
 * replaced without its data) or drop a user from it (an entry not touched in time); a user who
 * waits did nothing wrong and must not wait forever. The node remembers its waiting users
 * (`matchmaker.queued`); the keeper keeps that memory true and gives it back to Redis:
 * - a user matched by any node no longer waits (their socket joins a call room);
 * - a user whose connection dropped for a moment (connection state recovery) waits again, and a
 *   call that ended meanwhile is ended for them too;
 * - on every heartbeat (`keep`, called by presence), what Redis lost is given back.
 */
export function createKeeper({ io, matchmaker, calls, logger }: KeeperDeps): Keeper {
  const log = logger.child({ module: "keeper" });
  const local = () => io.of("/").sockets;
  const waitsWith = (socket: VchatSocket) => matchmaker.queued.get(socket.data.user.id)?.socketId === socket.id;

  io.on("connection", (socket) => {
    // Before the call use cases take the user out of the queue: remember in socket.data, which
    // connection state recovery keeps with the session, that the user was waiting.
    (socket as unknown as NodeJS.EventEmitter).prependListener("disconnecting", () => {
      if (waitsWith(socket)) (socket.data as Requeue).requeue = true;
    });
    if (socket.recovered) void recovered(socket);
  });

  io.of("/").adapter.on("join-room", (room: string, socketId: string) => {
    if (!isCallRoom(room)) return;
    const socket = local().get(socketId);
    if (socket && waitsWith(socket)) matchmaker.queued.delete(socket.data.user.id);
  });

  /** Connection state recovery gives a socket back its rooms after a short drop, and its wait. */
  async function recovered(socket: VchatSocket): Promise<void> {
    await leaveEndedCalls(socket);
    const data = socket.data as Requeue;
    if (!data.requeue) return;
    data.requeue = undefined;
    // A user who was waiting when the connection dropped still waits, as far as they know.
    await queueAgain(socket).catch((err) => log.warn({ err }, "could not queue a recovered user again"));
  }

  /** The call of a recovered socket ended at the drop (the peer was told `disconnected`): it leaves the room and is told as well. */
  async function leaveEndedCalls(socket: VchatSocket): Promise<void> {
    for (const room of [...socket.rooms].filter(isCallRoom)) {
      const sessionId = room.slice(2);
      const live = await matchmaker.getSession(sessionId).catch(() => null);
      if (live && (live.offerer.socketId === socket.id || live.answerer.socketId === socket.id)) continue;
      void socket.leave(room);
      socket.emit("call:ended", { sessionId, reason: "disconnected" });
    }
  }

  function queueAgain(socket: VchatSocket): Promise<unknown> {
    return calls.join(partyOf(socket), socket.data.lobby ?? {});
  }

  /** Queues again these users of this node, who wait but are no longer in Redis' queue. */
  async function requeue(userIds: string[]): Promise<void> {
    let n = 0;
    for (const userId of userIds) {
      const waiter = matchmaker.queued.get(userId);
      if (!waiter) continue;
      const socket = local().get(waiter.socketId);
      if (!socket || [...socket.rooms].some(isCallRoom)) {
        matchmaker.queued.delete(userId);
        continue;
      }
      await queueAgain(socket).then(
        () => n++,
        (err) => log.warn({ err, userId }, "could not queue a waiting user again"),
      );
    }
    if (n > 0) log.info({ users: n }, "queued this node's waiting users again");
  }

  /** This node's waiting users that the last beat found lost to Redis' queue. */
  let lostBefore = new Set<string>();

  return {
    async keep() {
      const lost = new Set(matchmaker.queued.size > 0 ? await matchmaker.touch([...matchmaker.queued.keys()]) : []);
      // Queued again once lost on two beats running: a match made just before (its room join
      // still on its way from another node, maybe held up by an outage) lands first, so its
      // users are not queued twice.
      const again = [...lost].filter((u) => lostBefore.has(u));
      lostBefore = lost;
      if (again.length > 0) await requeue(again);
      if (matchmaker.pendingEnds.size > 0) await matchmaker.retryEnds();
    },
  };
}
