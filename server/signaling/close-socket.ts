import type { ServerToClientEvents } from "../../protocol/index.ts";
import type { VchatServer } from "./types.ts";

/** socket.io-parser's `PacketType.EVENT` (a dependency of socket.io, not one of ours). */
const EVENT = 2;

/**
 * Tells a socket (or every socket in a room, such as a user's), on this node or another, why it
 * is being closed (an `error` event, or any other the client handles), then closes it. With connection state recovery every emit goes
 * through the adapter, which on a cluster first writes it to the Redis stream, while a disconnect
 * of a local socket is immediate: emitting and disconnecting in one go would close the socket
 * before it is told. So the emit is handed to the adapter (what `io.to(id).emit` does) and
 * awaited, and the disconnect follows it.
 *
 * @example
 * await closeSocket(io, socket.id, "error", { code: "RATE_LIMITED", message: "..." });
 */
export async function closeSocket<E extends keyof ServerToClientEvents>(
  io: VchatServer,
  /** A socket id or a room. */
  target: string,
  event: E,
  payload: Parameters<ServerToClientEvents[E]>[0],
): Promise<void> {
  const adapter = io.of("/").adapter;
  const packet = { type: EVENT, data: [event, payload], nsp: "/" };
  // eslint-disable-next-line @typescript-eslint/await-thenable -- the cluster adapters' broadcast returns a promise; the base Adapter type says void
  await adapter.broadcast(packet, { rooms: new Set([target]), except: new Set(), flags: {} });
  io.in(target).disconnectSockets(true);
}
