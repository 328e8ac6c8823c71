import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Server, type Socket } from "socket.io";
import type { Ack, AuthResponse, ClientEvent, ClientToServerEvents, ServerToClientEvents } from "../../../protocol/index.ts";
import { Connection, type ConnectionOptions } from "../connection.ts";
import { Store } from "../store.ts";

export type ServerSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

/**
 * A real Socket.IO server on loopback that speaks the protocol's event maps and acts as the vchat
 * server is scripted to: it knows the tokens it issued, records what clients send and answers
 * every request `{ok: true}` unless `answers` says otherwise (`null`: never answer).
 */
export interface TestServer {
  url: string;
  io: Server<ClientToServerEvents, ServerToClientEvents>;
  /** Tokens refused as banned (connect_error `BANNED`). */
  banned: Set<string>;
  received: Array<{ event: ClientEvent; payload: unknown }>;
  answers: Partial<Record<ClientEvent, (payload: unknown) => Ack<object> | null>>;
  /** A guest sign-in as `POST /api/auth/guest` answers it: a new user and token each time. */
  login(nickname: string | undefined): Promise<AuthResponse>;
  /** Makes every token issued so far invalid (the server restarted with a new secret). */
  forgetTokens(): void;
  /** The server side of the most recent connection, once there is one. */
  socket(): Promise<ServerSocket>;
  /** The events of one name clients sent, in order. */
  sent(event: ClientEvent): unknown[];
  close(): Promise<void>;
}

/** `recovery`: the server keeps a dropped session for a while (Socket.IO connection state recovery). */
export async function startTestServer(opts: { recovery?: boolean } = {}): Promise<TestServer> {
  const http = createServer();
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(http, {
    transports: ["websocket"],
    ...(opts.recovery ? { connectionStateRecovery: {} } : {}),
  });
  const tokens = new Set<string>();
  const banned = new Set<string>();
  const received: TestServer["received"] = [];
  const answers: TestServer["answers"] = {};
  let users = 0;
  let last: ServerSocket | null = null;

  io.use((socket, next) => {
    const token = String((socket.handshake.auth as { token?: unknown }).token);
    if (banned.has(token)) return next(Object.assign(new Error("You are banned."), { data: { code: "BANNED" } }));
    if (!tokens.has(token)) return next(Object.assign(new Error("Sign in again."), { data: { code: "UNAUTHENTICATED" } }));
    next();
  });
  io.on("connection", (socket) => {
    last = socket;
    socket.onAny((event: ClientEvent, ...args: unknown[]) => {
      const ack = args.at(-1);
      const payload = typeof args[0] === "function" ? undefined : args[0];
      received.push({ event, payload });
      if (typeof ack !== "function") return;
      const answer: Ack<object> | null = answers[event] ? answers[event](payload) : { ok: true };
      if (answer) (ack as (a: Ack<object>) => void)(answer);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    io,
    banned,
    received,
    answers,
    async login(nickname) {
      const n = ++users;
      const token = `token-${n}`;
      tokens.add(token);
      return { token, user: { id: `user-${n}`, nickname: nickname ?? `Guest${n}`, kind: "guest", createdAt: new Date().toISOString() } };
    },
    forgetTokens: () => tokens.clear(),
    socket: async () => {
      await until(() => last !== null && last.connected, "a client connected");
      return last!;
    },
    sent: (event) => received.filter((r) => r.event === event).map((r) => r.payload),
    close: () => new Promise<void>((resolve) => void io.close(() => resolve())),
  };
}

/** A store and a connection to `server`, as the page wires them. */
export function connectTo(server: TestServer, opts: Partial<ConnectionOptions> = {}): { store: Store; connection: Connection } {
  const store = opts.store ?? new Store();
  const connection = new Connection({
    url: server.url,
    login: (nickname) => server.login(nickname),
    onReconnected: () => undefined,
    onSentHome: () => undefined,
    ...opts,
    store,
  });
  return { store, connection };
}

/** Resolves once `check()` holds; fails after `ms` saying what was awaited. */
export async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
