import type { z } from "zod";
import { VchatError, clientEventSchemas, type AuthRevoked, type ClientToServerEvents } from "../../protocol/index.ts";
import { revoked, type AccountStanding } from "../auth/standing.ts";
import { verifyToken } from "../auth/tokens.ts";
import type { Calls } from "../calls/calls.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { consume, type RateLimits } from "../rate-limits.ts";
import { parse, toErrorBody } from "../validate.ts";
import { userRoom, type VchatServer, type VchatSocket } from "./types.ts";

export interface SignalingDeps {
  jwtSecret: string;
  calls: Calls;
  metrics: Metrics;
  limits: RateLimits;
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
 * and disconnected when its token expires or its account is banned or deleted. Every event is rate
 * limited and validated, and handlers only map to the call use cases. An event with an ack gets a
 * tagged result; one without gets an `error` event when it fails. Returns what stops the sweep
 * of idle sockets' accounts.
 */
export function attachSignaling(io: VchatServer, { jwtSecret, calls, metrics, limits, standing, sweepMs, logger }: SignalingDeps): { stop(): void } {
  const log = logger.child({ module: "signaling" });

  const revoke = (socket: VchatSocket, why: AuthRevoked) => {
    if (!socket.connected) return;
    socket.emit("auth:revoked", why);
    socket.disconnect();
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
      calls.disconnecting(socket).catch((err) => log.error({ err }, "disconnect clean-up failed"));
    });

    const on = <E extends EventName>(event: E, handler: (payload: Payload<E>) => unknown) => {
      const schema = clientEventSchemas[event];
      (socket as VchatSocket & { on(event: string, listener: (...args: unknown[]) => void): void }).on(event, async (...args: unknown[]) => {
        const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (result: unknown) => void) : undefined;
        try {
          await consume(limits.events, socket.id);
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
          const error = toErrorBody(err, log);
          metrics.errors.inc({ code: error.code });
          if (ack) ack({ ok: false, error });
          else socket.emit("error", error);
        }
      });
    };

    on("lobby:join", (p) => calls.join(socket, p));
    on("lobby:leave", () => calls.leave(socket));
    on("signal", (p) => calls.signal(socket, p));
    on("chat:send", (p) => calls.chat(socket, p));
    on("chat:typing", (p) => calls.typing(socket, p));
    on("call:next", (p) => calls.next(socket, p));
    on("call:end", (p) => calls.end(socket, p));
    on("call:stats", (p) => calls.stats(socket, p));

    socket.onAny((event: string, ...args: unknown[]) => {
      if (event in clientEventSchemas) return;
      const error = new VchatError("VALIDATION_FAILED", "unknown event").toBody();
      metrics.errors.inc({ code: error.code });
      const ack = args[args.length - 1];
      if (typeof ack === "function") ack({ ok: false, error });
      else socket.emit("error", error);
    });
  });

  // Idle sockets too: an account deleted or banned outside the admin API is closed within a sweep.
  let sweeping = false;
  const sweep = setInterval(async () => {
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
  }, sweepMs);
  sweep.unref();
  return { stop: () => clearInterval(sweep) };
}
