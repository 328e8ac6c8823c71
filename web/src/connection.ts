import { io } from "socket.io-client";
import {
  clientErrorCodes,
  request,
  type AuthResponse,
  type AuthRevoked,
  type ClientEvent,
  type ClientSocket,
  type PayloadOf,
  type Reply,
  type RequestOptions,
  type ServerToClientEvents,
} from "../../protocol/index.ts";
import { guestLogin } from "./api.ts";
import type { Store } from "./store.ts";

type ServerEvent = keyof ServerToClientEvents;

/** The server's answer to `E`, or the client's own refusal: not connected (`NETWORK`), no answer in time (`TIMEOUT`). */
export type Answer<E extends ClientEvent> = Reply<E> | { ok: false; error: { code: "NETWORK"; message: string } };
/** Why a request did not go through, whoever said so. */
export type Refusal = Extract<Answer<ClientEvent>, { ok: false }>["error"];

/** A code the client set itself because the server gave no usable answer (`NETWORK`, `TIMEOUT`, `BAD_RESPONSE`). */
export function noAnswer(code: string): boolean {
  return (clientErrorCodes as readonly string[]).includes(code);
}

export const unreachable = "Can't reach the vchat server. Check your internet connection; we keep trying.";
/** The server answered over HTTP but no WebSocket got through: the client has no other transport. */
export const websocketBlocked =
  "The vchat server answered, but its WebSocket connection was refused. A firewall, proxy or browser extension is blocking WebSockets; vchat needs them. Try another network or allow WebSockets for this site.";

export interface ConnectionOptions {
  store: Store;
  /** The server's origin; by default the page's own (`/api`, `/socket.io/`). */
  url?: string;
  /** Guest sign-in over REST. */
  login?: (nickname: string | undefined) => Promise<AuthResponse>;
  /** How long a request waits for its ack. @default 8000 */
  ackTimeoutMs?: number;
  /** The socket is back after a drop; `recovered` when the server kept its session (rooms, lobby place). */
  onReconnected(recovered: boolean): void;
  /**
   * The server closed the connection on purpose or refused it (ban, token revoked, too many tabs):
   * the user goes back to the start screen. `revoked` is set when the server said so first.
   */
  onSentHome(revoked?: AuthRevoked): void;
}

/**
 * The session with the server: guest sign-in (the token and `me`), one Socket.IO connection that
 * reconnects by itself, the header's link state, and requests with acks. Server events reach the
 * units through `on()`, which survives a new socket after a new sign-in.
 */
export class Connection {
  private readonly opts: ConnectionOptions;
  private readonly store: Store;
  private socket: ClientSocket | null = null;
  private tokenValue: string | null = null;
  private nickname = "";
  private signingIn: Promise<void> | null = null;
  private everConnected = false;
  private readonly listeners: Array<(socket: ClientSocket) => void> = [];

  constructor(opts: ConnectionOptions) {
    this.opts = opts;
    this.store = opts.store;
  }

  /** The guest token for REST calls; null until signed in. */
  get token(): string | null {
    return this.tokenValue;
  }

  /** Listens to a server event on this and every later socket. */
  on<E extends ServerEvent>(event: E, handler: ServerToClientEvents[E]): void {
    // Socket.IO's listener type does not follow a generic event name; the signature above types it.
    const listen = (socket: ClientSocket) => (socket as unknown as { on(event: string, fn: typeof handler): void }).on(event, handler);
    this.listeners.push(listen);
    if (this.socket) listen(this.socket);
  }

  /**
   * Signs in unless already signed in under this nickname. One sign-in at a time: the socket's
   * own re-sign-in after a refused token and a Start press must not make two users of one person
   * (the second would replace the socket the first had just joined the lobby on).
   */
  async login(nickname: string): Promise<void> {
    this.nickname = nickname;
    while (this.signingIn) await this.signingIn.catch(() => undefined);
    const me = this.store.get().me;
    if (this.tokenValue && me && (!nickname || me.nickname === nickname)) return;
    this.signingIn = this.signIn(nickname).finally(() => (this.signingIn = null));
    await this.signingIn;
  }

  private async signIn(nickname: string): Promise<void> {
    const auth = await (this.opts.login ?? guestLogin)(nickname || undefined);
    const old = this.socket;
    if (old && this.tokenValue && this.tokenValue !== auth.token) {
      // The server knows a socket by the token it connected with: a new name needs a new socket.
      old.removeAllListeners();
      old.disconnect();
      this.socket = null;
      this.everConnected = false;
    }
    this.tokenValue = auth.token;
    this.store.set({ me: auth.user });
  }

  /** Opens the Socket.IO session once; it then reconnects on its own after network drops. */
  connect(): Promise<void> {
    const existing = this.socket;
    if (existing?.connected) return Promise.resolve();
    const options = {
      // WebSocket only: every node can serve every frame, so the load balancer needs no
      // stickiness (long-polling would spread one session's requests over nodes).
      transports: ["websocket"],
      // A function, so a reconnect after re-login carries the new token.
      auth: (cb: (data: object) => void) => cb({ token: this.tokenValue ?? "" }),
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      timeout: 8000,
    };
    const socket: ClientSocket = existing ?? (this.opts.url ? io(this.opts.url, options) : io(options));
    if (!existing) {
      this.socket = socket;
      this.wire(socket);
    }
    this.store.set({ link: this.everConnected ? "reconnecting" : "connecting" });
    if (!socket.active) socket.connect();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        socket.off("connect", onConnect);
        socket.off("connect_error", onError);
      };
      const onConnect = () => {
        done();
        resolve();
      };
      const onError = (err: Error) => {
        // A refused token is handled by signing in again (see wire()); wait for that connect.
        if (isAuthError(err)) return;
        done();
        reject(err);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error("timeout"));
      }, 10_000);
      socket.on("connect", onConnect);
      socket.on("connect_error", onError);
    });
  }

  private wire(socket: ClientSocket): void {
    const { store } = this;
    socket.on("connect", () => {
      const again = this.everConnected;
      this.everConnected = true;
      store.set({ link: "online" });
      // `recovered` stays unset when the server keeps no session state.
      if (again) this.opts.onReconnected(Boolean(socket.recovered));
    });
    socket.on("disconnect", (reason) => {
      if (reason === "io client disconnect") return;
      if (reason === "io server disconnect") {
        // The server said why just before (`auth:revoked`, `error`), which stays on screen. The
        // socket does not reconnect by itself; Start connects again.
        store.set({ link: "idle" });
        this.opts.onSentHome();
        return;
      }
      store.set({ link: "reconnecting" });
      store.notify("warn", "Lost the connection to the server. Reconnecting…");
    });
    socket.on("connect_error", (err) => {
      if (isBanned(err)) {
        store.set({ phase: "home", waitingSince: null, link: "idle" });
        store.notify("error", err.message);
        return;
      }
      if (isAuthError(err)) {
        // The guest token expired or the server's secret changed: sign in again and retry.
        this.tokenValue = null;
        this.login(this.nickname)
          // Start may have connected (or replaced) the socket meanwhile.
          .then(() => this.socket === socket && !socket.active && socket.connect())
          .catch(() => store.notify("error", unreachable));
        return;
      }
      if (store.get().phase !== "home" || this.everConnected) {
        store.set({ link: "reconnecting" });
        store.notify("error", unreachable);
      }
    });
    socket.on("error", (e) => store.notify("error", e.message));
    // The server closes this socket right after: its token ran out, or the account was banned
    // or deleted. A new sign-in on the next Start, except for a ban, which the user is shown.
    socket.on("auth:revoked", (r) => {
      if (r.reason !== "banned") this.tokenValue = null;
      this.opts.onSentHome(r);
    });
    for (const listen of this.listeners) listen(socket);
  }

  /**
   * Sends an event and waits for its ack. Never throws: without a connection the answer is
   * `NETWORK` at once (Socket.IO would buffer the event), without an ack in time `TIMEOUT`.
   */
  async request<E extends ClientEvent>(event: E, ...[payload]: PayloadOf<E> extends undefined ? [] : [payload: PayloadOf<E>]): Promise<Answer<E>> {
    const socket = this.socket;
    if (!socket?.connected) return { ok: false, error: { code: "NETWORK", message: unreachable } };
    // request()'s arguments depend on the event; this method's signature above says the same for any E.
    const ask = request as (socket: ClientSocket, event: E, payload: unknown, options: RequestOptions) => Promise<Reply<E>>;
    const reply = await ask(socket, event, payload, { timeoutMs: this.opts.ackTimeoutMs ?? 8000 });
    const known = reply as Reply<ClientEvent>;
    if (!known.ok && known.error.code === "TIMEOUT") return { ok: false, error: { code: "TIMEOUT", message: "The server did not answer in time." } };
    return reply;
  }

  dispose(): void {
    this.socket?.disconnect();
  }
}

function isBanned(err: Error): boolean {
  return (err as Error & { data?: { code?: string } }).data?.code === "BANNED";
}

function isAuthError(err: Error): boolean {
  return (err as Error & { data?: { code?: string } }).data?.code === "UNAUTHENTICATED";
}

/** socket.io-client's connect_error when the transport itself failed (here: the WebSocket). */
export function isTransportError(err: unknown): boolean {
  return (err as { type?: string } | null)?.type === "TransportError";
}
