import { io as connect, type Socket } from "socket.io-client";
import { expect } from "vitest";
import type { Ack, AuthResponse, ClientToServerEvents, MatchFound, ServerToClientEvents } from "../../protocol/index.ts";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** A test user: a guest account and its connected socket. */
export interface TestUser {
  token: string;
  id: string;
  nickname: string;
  socket: ClientSocket;
}

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

export async function guest(url: string, nickname?: string): Promise<AuthResponse> {
  const { status, body } = await api<AuthResponse>(url, "/api/auth/guest", { body: nickname ? { nickname } : {} });
  if (status !== 201) throw new Error(`guest login failed: ${status} ${JSON.stringify(body)}`);
  return body;
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

/** Emits with an ack and resolves to the tagged result. */
export function request<T extends object = object>(socket: ClientSocket, event: string, ...args: unknown[]): Promise<Ack<T>> {
  return (socket as unknown as { timeout(ms: number): { emitWithAck(e: string, ...a: unknown[]): Promise<Ack<T>> } }).timeout(5000).emitWithAck(event, ...args);
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
