/**
 * Socket.IO calls typed from the event maps: `request()` waits for the server's tagged result,
 * `send()` does not wait. Only the types of socket.io-client are used here, so the browser bundle
 * and the Node side share this file without pulling the client library into `protocol/`.
 */
import type { Socket } from "socket.io-client";
import type { AckFn } from "./errors.ts";
import { clientEventSchemas, type ClientToServerEvents, type ServerToClientEvents } from "./events.ts";

/** A client's socket, typed by the protocol's event maps. */
export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export type ClientEvent = keyof ClientToServerEvents;

/** What an event carries before its ack; `undefined` for one without a payload (`lobby:leave`). */
export type PayloadOf<E extends ClientEvent> = Parameters<ClientToServerEvents[E]> extends [infer P, AckFn<infer _>] ? P : undefined;

/** The payload may be left out for an event that takes none. */
type PayloadArgs<E extends ClientEvent, Rest extends unknown[] = []> =
  PayloadOf<E> extends undefined ? [payload?: undefined, ...rest: Rest] : [payload: PayloadOf<E>, ...rest: Rest];

/** The tagged result the server acks `E` with. */
export type AckOf<E extends ClientEvent> = Parameters<ClientToServerEvents[E]> extends [...unknown[], (result: infer A) => void] ? A : never;

/** No ack: none came within the time asked for, or the connection closed before it came. */
export interface TimedOut {
  ok: false;
  error: { code: "TIMEOUT"; message: string };
}

/** What `request()` resolves to: the server's ack, or `TIMEOUT`. */
export type Reply<E extends ClientEvent> = AckOf<E> | TimedOut;

export interface RequestOptions {
  /** How long to wait for the ack. @default 10_000 */
  timeoutMs?: number;
}

/** The event's arguments before the ack: none for an event without a payload. */
const argsOf = (event: ClientEvent, payload: unknown): unknown[] => (clientEventSchemas[event] === null ? [] : [payload]);

/**
 * Emits `event` with its payload and resolves to the server's tagged result, or to a `TIMEOUT`
 * result when no ack comes within `timeoutMs` or the connection closes first. It never rejects.
 * @example
 * const ack = await request(socket, "lobby:join", { interests: ["music"] }, { timeoutMs: 5000 });
 * if (ack.ok) console.log(ack.waitingSince);
 * else console.log(ack.error.code); // e.g. RATE_LIMITED, or TIMEOUT
 */
export function request<E extends ClientEvent>(
  socket: ClientSocket,
  event: E,
  ...[payload, options]: PayloadArgs<E, [options?: RequestOptions]>
): Promise<Reply<E>> {
  const timeoutMs = options?.timeoutMs ?? 10_000;
  // Socket.IO's types cannot follow a generic event name; the signature above is what they would say.
  const timed = socket.timeout(timeoutMs) as unknown as { emit(event: string, ...args: unknown[]): void };
  return new Promise((resolve) => {
    timed.emit(event, ...argsOf(event, payload), (err: Error | null, ack: AckOf<E>) => {
      if (!err) return resolve(ack);
      // Socket.IO gives up on the acks of a socket that disconnects at once.
      const why = socket.connected ? `within ${timeoutMs} ms` : "before the connection closed";
      resolve({ ok: false, error: { code: "TIMEOUT", message: `no answer to ${event} ${why}` } });
    });
  });
}

/**
 * Emits `event` without an ack, for messages nobody waits on (ICE candidates, typing). The server
 * reports a failure as an `error` event on the socket.
 * @example send(socket, "chat:typing", { sessionId, typing: true });
 */
export function send<E extends ClientEvent>(socket: ClientSocket, event: E, ...[payload]: PayloadArgs<E>): void {
  (socket as unknown as { emit(event: string, ...args: unknown[]): void }).emit(event, ...argsOf(event, payload));
}
