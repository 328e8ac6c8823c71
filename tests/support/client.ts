import { io as connect } from "socket.io-client";
import { expect } from "vitest";
import { request, restClient, type Ack, type AuthResponse, type ClientSocket, type MatchFound, type ServerToClientEvents } from "../../protocol/index.ts";

export { request, type ClientSocket };

/** A test user: a guest account and its connected socket. */
export interface TestUser {
  token: string;
  id: string;
  nickname: string;
  socket: ClientSocket;
}

/** Raw HTTP, for tests that check statuses and refusals; `restClient` checks answers against the protocol. */
export async function api<T = unknown>(
  url: string,
  path: string,
  init: { method?: string; token?: string; body?: unknown; raw?: string } = {},
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined || init.raw !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(url + path, {
    method: init.method ?? (init.body !== undefined || init.raw !== undefined ? "POST" : "GET"),
    headers,
    body: init.raw ?? (init.body !== undefined ? JSON.stringify(init.body) : undefined),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON (metrics)
  }
  return { status: res.status, body: body as T };
}

export function guest(url: string, nickname?: string): Promise<AuthResponse> {
  return restClient({ baseUrl: url }).call("guest", nickname ? { nickname } : {});
}

export function socketFor(url: string, token: string | undefined, opts: { autoConnect?: boolean } = {}): ClientSocket {
  return connect(url, { auth: token === undefined ? {} : { token }, transports: ["websocket"], reconnection: false, forceNew: true, ...opts });
}

/** A guest with a connected socket. */
export async function user(url: string, nickname?: string): Promise<TestUser> {
  const auth = await guest(url, nickname);
  const socket = socketFor(url, auth.token);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  return { token: auth.token, id: auth.user.id, nickname: auth.user.nickname, socket };
}

/**
 * Emits what the protocol does not allow (an unknown event, a payload of the wrong shape) with an
 * ack, as a hostile client would, and resolves to the tagged result. Use `request()` otherwise.
 */
export function rawRequest(socket: ClientSocket, event: string, ...args: unknown[]): Promise<Ack> {
  const untyped = socket.timeout(5000) as unknown as { emitWithAck(event: string, ...args: unknown[]): Promise<Ack> };
  return untyped.emitWithAck(event, ...args);
}

/** The next `event` on the socket, or a rejection after `ms`. */
export function next<E extends keyof ServerToClientEvents>(socket: ClientSocket, event: E, ms = 5000): Promise<Parameters<ServerToClientEvents[E]>[0]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, handler as never);
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const handler = (payload: Parameters<ServerToClientEvents[E]>[0]) => {
      clearTimeout(timer);
      resolve(payload);
    };
    socket.once(event, handler as never);
  });
}

/** Collects every `event` the socket receives, to assert that nothing arrived. */
export function record<E extends keyof ServerToClientEvents>(socket: ClientSocket, event: E): Parameters<ServerToClientEvents[E]>[0][] {
  const seen: Parameters<ServerToClientEvents[E]>[0][] = [];
  socket.on(event, ((payload: Parameters<ServerToClientEvents[E]>[0]) => seen.push(payload)) as never);
  return seen;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Both join the lobby (each join acknowledged) and are matched with each other. */
export async function pair(a: TestUser, b: TestUser): Promise<[MatchFound, MatchFound]> {
  const fa = next(a.socket, "match:found");
  const fb = next(b.socket, "match:found");
  expect(await request(a.socket, "lobby:join", {})).toMatchObject({ ok: true });
  expect(await request(b.socket, "lobby:join", {})).toMatchObject({ ok: true });
  return Promise.all([fa, fb]);
}
