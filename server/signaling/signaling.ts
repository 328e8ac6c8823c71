import type { z } from "zod";
import { VchatError, clientEventSchemas, type ClientToServerEvents, type ErrorBody } from "../../protocol/index.ts";
import { verifyToken } from "../auth/tokens.ts";
import type { Calls } from "../calls/calls.ts";
import type { ServerConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { parse, toErrorBody } from "../validate.ts";
import { eventBudget } from "./budget.ts";
import { closeSocket } from "./close-socket.ts";
import { capSockets } from "./socket-cap.ts";
import type { VchatServer, VchatSocket } from "./types.ts";

export interface SignalingDeps {
  jwtSecret: string;
  tuning: ServerConfig["tuning"];
  calls: Calls;
  metrics: Metrics;
  logger: Logger;
}

type EventName = keyof ClientToServerEvents;
type Payload<E extends EventName> = (typeof clientEventSchemas)[E] extends z.ZodType ? z.output<(typeof clientEventSchemas)[E]> : undefined;

/**
 * Socket.IO signaling: the JWT is checked at connect, a user's oldest sockets beyond
 * `socketsPerUser` are closed, every event (known or not) counts against the socket's budget and
 * is validated, and handlers only map to the call use cases. An event with an ack gets a tagged
 * result; one without gets an `error` event when it fails. A socket over its budget for
 * `abuseSeconds` running is told why and disconnected.
 */
export function attachSignaling(io: VchatServer, { jwtSecret, tuning, calls, metrics, logger }: SignalingDeps): void {
  const log = logger.child({ module: "signaling" });

  io.use((socket, next) => {
    try {
      const claims = verifyToken(socket.handshake.auth?.token, jwtSecret);
      socket.data.user = { id: claims.sub, nickname: claims.nickname };
      next();
    } catch (err) {
      const body = toErrorBody(err, log);
      metrics.errors.inc({ code: body.code });
      next(Object.assign(new Error(body.message), { data: body }));
    }
  });

  io.on("connection", (socket) => {
    metrics.connectedSockets.inc();
    socket.on("disconnect", () => metrics.connectedSockets.dec());
    socket.on("disconnecting", () => {
      calls.disconnecting(socket).catch((err) => log.error({ err }, "disconnect clean-up failed"));
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
          const payload = (schema ? parse(schema, args[0]) : undefined) as Payload<E>;
          const result = await handler(payload);
          ack?.({ ok: true, ...(result ?? {}) });
        } catch (err) {
          fail(toErrorBody(err, log), ack);
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
  });
}
