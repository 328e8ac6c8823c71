import type { Server, Socket } from "socket.io";
import type { ClientToServerEvents, LobbyJoin, ServerToClientEvents } from "../../protocol/index.ts";

export interface SocketData {
  user: { id: string; nickname: string };
  /** When the socket's token expires (ms since the epoch): the socket is closed then. */
  tokenExpiresAt?: number;
  /** The last `lobby:join` preferences, reused by `call:next`. */
  lobby?: LobbyJoin;
}

// No events between nodes of our own: the adapter carries rooms and emits.
export type InterServerEvents = Record<string, never>;

export type VchatServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
export type VchatSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** The Socket.IO room of a call. Only the server puts sockets in it, so membership is the authorisation. */
export const roomOf = (sessionId: string) => `s:${sessionId}`;
export const isCallRoom = (room: string) => room.startsWith("s:");
/** The members of a call being ended through its room, for the moment between leaving it and being told. */
export const endingRoomOf = (sessionId: string) => `e:${sessionId}`;
/** Every socket of one user joins this room: a ban reaches them all, on every node. */
export const userRoom = (userId: string) => `u:${userId}`;
