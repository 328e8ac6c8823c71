import type { Party } from "../matching/matchmaker.ts";
import { endingRoomOf, isCallRoom, roomOf, userRoom, type VchatServer, type VchatSocket } from "../signaling/types.ts";
import type { CallRooms } from "./calls.ts";

/** The user and socket an event came from, as the call use cases know them. */
export const partyOf = (socket: VchatSocket): Party => ({
  userId: socket.data.user.id,
  socketId: socket.id,
  nickname: socket.data.user.nickname,
});

/**
 * The call rooms over Socket.IO: a call's room is `roomOf(sessionId)`, its members are sockets,
 * and on a cluster the adapter carries joins, leaves and emits to every node in the order they
 * were made. This node's sockets are moved directly; only sockets on other nodes go through the
 * adapter (one stream message fewer per match and end when both users are local).
 */
export function socketRooms(io: VchatServer): CallRooms {
  const local = () => io.of("/").sockets;

  function move(action: "join" | "leave", socketIds: string[], room: string): void {
    const remote: string[] = [];
    for (const id of socketIds) {
      const socket = local().get(id);
      if (!socket) remote.push(id);
      else if (action === "join") void socket.join(room);
      else void socket.leave(room);
    }
    if (remote.length === 0) return;
    if (action === "join") io.in(remote).socketsJoin(room);
    else io.in(remote).socketsLeave(room);
  }

  return {
    isIn: (socketId, sessionId) => local().get(socketId)?.rooms.has(roomOf(sessionId)) ?? false,
    callsOf: (socketId) => [...(local().get(socketId)?.rooms ?? [])].filter(isCallRoom).map((room) => room.slice(2)),
    isLocal: (socketId) => local().has(socketId),
    enter: (socketIds, sessionId) => move("join", socketIds, roomOf(sessionId)),
    leave: (socketIds, sessionId) => move("leave", socketIds, roomOf(sessionId)),
    tell: (socketId, event, ...args) => void io.to(socketId).emit(event, ...args),
    relay: (from, sessionId, event, ...args) =>
      void io
        .to(roomOf(sessionId))
        .except(from)
        .emit(event, ...args),
    tellUser: (userId, except, event, ...args) =>
      void io
        .to(userRoom(userId))
        .except(except)
        .emit(event, ...args),

    // The members are unknown here (no live state), so they are marked first (an ending room),
    // then leave the call room, then are told: every node applies the adapter's messages in this
    // order, and a member joining the lobby the moment it is told is out of the call. The caller
    // is out at once, before its ack.
    endThroughRoom(sessionId, reason, by) {
      const room = roomOf(sessionId);
      const ending = endingRoomOf(sessionId);
      move("leave", [by], room);
      io.in(room).socketsJoin(ending);
      io.in(room).socketsLeave(room);
      io.to(ending).emit("call:ended", { sessionId, reason });
      io.in(ending).socketsLeave(ending);
    },
  };
}
