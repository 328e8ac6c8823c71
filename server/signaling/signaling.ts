import type { z } from "zod";
import { VchatError, clientEventSchemas, type AuthRevoked, type ClientToServerEvents, type ErrorBody } from "../../protocol/index.ts";
import { revoked, type AccountStanding } from "../auth/standing.ts";
import { verifyToken } from "../auth/tokens.ts";
import type { Calls } from "../calls/calls.ts";
import { partyOf } from "../calls/socket-rooms.ts";
import type { ServerConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { parse, toErrorBody } from "../validate.ts";
import { eventBudget } from "./budget.ts";
import { closeSocket } from "./close-socket.ts";
import { capSockets } from "./socket-cap.ts";
import { userRoom, type VchatServer, type VchatSocket } from "./types.ts";

export interface SignalingDeps {
  jwtSecret: string;
  tuning: ServerConfig["tuning"];
  calls: Calls;
  metrics: Metrics;
  standing: AccountStanding;
  /** How often idle sockets' accounts are checked (`tuning.accountSweepMs`). */
  sweepMs: number;
  logger: Logger;
}

type EventName = keyof ClientToServerEvents;
type Payload<E extends EventName> = (typeof clientEventSchemas)[E] extends z.ZodType ? z.output<(typeof clientEventSchemas)[E]> : undefined;

/** Longest timer Node keeps (about 24.8 days); a token living longer is checked again then. */
const timerMax = 2 ** 31 - 1;

/**
 * Socket.IO signaling: the JWT and the account (exists, not banned) are checked at connect and the
 * account again at every event (cached briefly, see `standing.ts`); a socket is told `auth:revoked`
 * and disconnected when its token expires or its account is banned or deleted. A user's oldest
 * sockets beyond `socketsPerUser` are closed. Every event (known or not) counts against the
 * socket's budget and is validated, and handlers only map to the call use cases. An event with an
 * ack gets a tagged result; one without gets an `error` event when it fails. A socket over its
 * budget for `abuseSeconds` running is told why and disconnected. Returns what starts and stops
 * the sweep of idle sockets' accounts.
 */
export function attachSignaling(
  io: VchatServer,
  { jwtSecret, tuning, calls, metrics, standing, sweepMs, logger }: SignalingDeps,
): { start(): void; stop(): void } {
  const log = logger.child({ module: "signaling" });

  // Told once, then closed after the telling (see closeSocket: on a cluster the emit goes through Redis first).
  const closing = new WeakSet<VchatSocket>();
  const revoke = (socket: VchatSocket, why: AuthRevoked) => {
    if (!socket.connected || closing.has(socket)) return;
    closing.add(socket);
    closeSocket(io, socket.id, "auth:revoked", why).catch((err) => log.error({ err }, "could not close a revoked socket"));
  };

  io.use(async (socket, next) => {
    try {
      const claims = verifyToken(socket.handshake.auth?.token, jwtSecret);
      await standing.check(claims.sub);
      socket.data.user = { id: claims.sub, nickname: claims.nickname };
      socket.data.tokenExpiresAt = claims.exp === undefined ? undefined : claims.exp * 1000;
      next();
    } catch (err) {
      const body = toErrorBody(err, log);
      metrics.errors.inc({ code: body.code });
      next(Object.assign(new Error(body.message), { data: body }));
    }
  });

  io.on("connection", (socket) => {
    metrics.connectedSockets.inc();
    const userId = socket.data.user.id;
    void socket.join(userRoom(userId));
    let expiry: NodeJS.Timeout | undefined;
    const expiresAt = socket.data.tokenExpiresAt;
    const armExpiry = () => {
      if (expiresAt === undefined) return;
      const left = expiresAt - Date.now();
      if (left <= 0) revoke(socket, { reason: "token-expired", message: "the token has expired: sign in again" });
      else expiry = setTimeout(armExpiry, Math.min(left, timerMax));
    };
    armExpiry();
    // A socket recovered after a short drop (cluster) skips the connect check: check it here.
    if (socket.recovered) {
      void standing.standing(userId).then((s) => {
        if (!s.ok) revoke(socket, revoked(s));
      });
    }
    socket.on("disconnect", () => {
      clearTimeout(expiry);
      metrics.connectedSockets.dec();
    });
    socket.on("disconnecting", () => {
      calls.disconnecting(partyOf(socket)).catch((err) => log.error({ err }, "disconnect clean-up failed"));
    });
    capSockets(io, socket, tuning.socketsPerUser, log).catch((err) => log.error({ err }, "socket cap failed"));

    const fail = (error: ErrorBody, ack: unknown) => {
      metrics.errors.inc({ code: error.code });
      if (typeof ack === "function") ack({ ok: false, error });
      else socket.emit("error", error);
    };

    // Every event passes here first, before any handler: the budget, then the event name.
    const budget = eventBudget({ perSecond: tuning.eventsPerSecond, abuseSeconds: tuning.abuseSeconds });
    let warned = false;
    let cut = false;
    socket.use(([event, ...args], next) => {
      // Cut off: nothing more is read or answered while the close goes through the adapter.
      if (cut) return;
      const verdict = budget.take();
      if (verdict === "abusive") {
        cut = true;
        log.warn({ userId: socket.data.user.id, socketId: socket.id }, "disconnecting a socket over its event budget");
        metrics.errors.inc({ code: "RATE_LIMITED" });
        const reason = new VchatError("RATE_LIMITED", `too many events for ${tuning.abuseSeconds} seconds running; disconnected`).toBody();
        closeSocket(io, socket.id, "error", reason).catch((err) => log.error({ err }, "could not close an abusive socket"));
        return;
      }
      if (verdict === "over") {
        const error = new VchatError("RATE_LIMITED", `more than ${tuning.eventsPerSecond} events in a second; slow down`).toBody();
        const ack = args[args.length - 1];
        // Acks are always answered; without one, one warning per second is enough.
        if (typeof ack === "function" || !warned) fail(error, ack);
        warned = true;
        return;
      }
      warned = false;
      if (!Object.hasOwn(clientEventSchemas, event)) return fail(new VchatError("VALIDATION_FAILED", "unknown event").toBody(), args[args.length - 1]);
      next();
    });

    const on = <E extends EventName>(event: E, handler: (payload: Payload<E>) => unknown) => {
      const schema = clientEventSchemas[event];
      (socket as VchatSocket & { on(event: string, listener: (...args: unknown[]) => void): void }).on(event, async (...args: unknown[]) => {
        const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (result: unknown) => void) : undefined;
        try {
          const s = await standing.standing(userId);
          if (!s.ok) {
            // Answered first, so a client waiting on the ack learns why before the socket closes.
            ack?.({ ok: false, error: { code: s.reason === "banned" ? "BANNED" : "UNAUTHENTICATED", message: s.message } });
            revoke(socket, revoked(s));
            return;
          }
          const payload = (schema ? parse(schema, args[0]) : undefined) as Payload<E>;
          const result = await handler(payload);
          ack?.({ ok: true, ...(result ?? {}) });
        } catch (err) {
          fail(toErrorBody(err, log), ack);
        }
      });
    };

    // The preferences of the last join are kept with the socket (connection state recovery keeps
    // them too): call:next and a recovered waiting user join with them again.
    const party = partyOf(socket);
    on("lobby:join", (p) => calls.join(party, (socket.data.lobby = p)));
    on("lobby:leave", () => calls.leave(party));
    on("signal", (p) => calls.signal(party, p));
    on("chat:send", (p) => calls.chat(party, p));
    on("chat:typing", (p) => calls.typing(party, p));
    on("call:next", (p) => calls.next(party, p.sessionId, socket.data.lobby ?? {}));
    on("call:end", (p) => calls.end(party, p.sessionId));
    on("call:stats", (p) => calls.stats(party, p));
  });

  // Idle sockets too: an account deleted or banned outside the admin API is closed within a sweep.
  let sweeping = false;
  async function sweep(): Promise<void> {
    if (sweeping) return;
    sweeping = true;
    try {
      const byUser = new Map<string, VchatSocket[]>();
      for (const socket of io.of("/").sockets.values()) byUser.set(socket.data.user.id, [...(byUser.get(socket.data.user.id) ?? []), socket]);
      for (const [userId, sockets] of byUser) {
        const s = await standing.standing(userId);
        if (!s.ok) for (const socket of sockets) revoke(socket, revoked(s));
      }
    } finally {
      sweeping = false;
    }
  }
  let sweepTimer: NodeJS.Timeout | undefined;
  return {
    start() {
      sweepTimer ??= setInterval(() => void sweep(), sweepMs);
      sweepTimer.unref();
    },
    stop: () => clearInterval(sweepTimer),
  };
}
