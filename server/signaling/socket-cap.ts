import { VchatError } from "../../protocol/index.ts";
import type { Logger } from "../log.ts";
import { closeSocket } from "./close-socket.ts";
import { userRoom, type VchatServer, type VchatSocket } from "./types.ts";

/**
 * At most `max` open sockets per user, on every node together. Each socket is in its user's room;
 * a new one asks every node (the adapter's `fetchSockets`) for that room, and the oldest sockets
 * beyond `max` are told why and closed. Two sockets of one user connecting at once on two nodes
 * both see both and choose the same ones to close (oldest handshake first, then socket id).
 * When a node does not answer (it is dying), the cap is skipped for this connection.
 */
export async function capSockets(io: VchatServer, socket: VchatSocket, max: number, log: Logger): Promise<void> {
  const room = userRoom(socket.data.user.id);
  await socket.join(room);
  let sockets;
  try {
    sockets = await io.in(room).fetchSockets();
  } catch (err) {
    log.warn({ err, userId: socket.data.user.id }, "could not count the user's sockets");
    return;
  }
  if (sockets.length <= max) return;
  sockets.sort((a, b) => a.handshake.issued - b.handshake.issued || (a.id < b.id ? -1 : 1));
  const error = new VchatError(
    "TOO_MANY_CONNECTIONS",
    `This account is open in more than ${max} tabs or devices, so this one, the oldest, was closed.`,
  ).toBody();
  for (const old of sockets.slice(0, sockets.length - max)) {
    log.info({ userId: socket.data.user.id, socketId: old.id }, "closing the user's oldest socket");
    await closeSocket(io, old.id, "error", error);
  }
}
