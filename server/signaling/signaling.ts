import type { z } from "zod";
import { VchatError, clientEventSchemas, type ClientToServerEvents } from "../../protocol/index.ts";
import { verifyToken } from "../auth/tokens.ts";
import type { Calls } from "../calls/calls.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import { consume, type RateLimits } from "../rate-limits.ts";
import { parse, toErrorBody } from "../validate.ts";
import type { VchatServer, VchatSocket } from "./types.ts";

export interface SignalingDeps {
  jwtSecret: string;
  calls: Calls;
  metrics: Metrics;
  limits: RateLimits;
  logger: Logger;
}

type EventName = keyof ClientToServerEvents;
type Payload<E extends EventName> = (typeof clientEventSchemas)[E] extends z.ZodType ? z.output<(typeof clientEventSchemas)[E]> : undefined;

/**
 * Socket.IO signaling: the JWT is checked at connect, every event is rate limited and validated,
 * and handlers only map to the call use cases. An event with an ack gets a tagged result; one
 * without gets an `error` event when it fails.
 */
export function attachSignaling(io: VchatServer, { jwtSecret, calls, metrics, limits, logger }: SignalingDeps): void {
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

    const on = <E extends EventName>(event: E, handler: (payload: Payload<E>) => unknown) => {
      const schema = clientEventSchemas[event];
      (socket as VchatSocket & { on(event: string, listener: (...args: unknown[]) => void): void }).on(event, async (...args: unknown[]) => {
        const ack = typeof args[args.length - 1] === "function" ? (args.pop() as (result: unknown) => void) : undefined;
        try {
          await consume(limits.events, socket.id);
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
}
