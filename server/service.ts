import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { redisKeys } from "./cluster/keys.ts";
import type { RedisClient } from "./cluster/redis.ts";
import { Server, type ServerOptions } from "socket.io";
import { limits as wireLimits } from "../protocol/index.ts";
import { createModeration } from "./admin/moderation.ts";
import { createAccounts } from "./auth/accounts.ts";
import { createStanding } from "./auth/standing.ts";
import { createCalls, type Calls } from "./calls/calls.ts";
import type { ServerConfig } from "./config.ts";
import { createApp } from "./http/app.ts";
import type { Logger } from "./log.ts";
import type { Matchmaker } from "./matching/matchmaker.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { createRateLimits } from "./rate-limits.ts";
import { attachSignaling } from "./signaling/signaling.ts";
import type { VchatServer } from "./signaling/types.ts";
import type { Store } from "./store/store.ts";

export interface ServiceDeps {
  config: ServerConfig;
  store: Store;
  matchmaker: Matchmaker;
  logger: Logger;
  /** Shared rate limits across nodes. */
  redis?: RedisClient;
  /** Socket.IO options for the cluster (adapter, connection state recovery). */
  socketOptions?: Partial<ServerOptions>;
  /** Named dependency checks for `/readyz`. */
  readiness?: Record<string, () => Promise<void>>;
  canMatch?: () => boolean;
  /** Serve HTTPS (and WSS) with this certificate instead of plain HTTP (`vchat dev --https`). */
  tls?: { cert: string; key: string };
}

export interface Service {
  io: VchatServer;
  /** The call use cases (for cluster presence: ending a crashed node's calls, queueing users again). */
  calls: Calls;
  /** This node's Prometheus metrics (what `/metrics` serves), read in process by `vchat dev`'s status. */
  metrics: Metrics;
  httpServer: http.Server | https.Server;
  /** Opens the port; resolves to the base URL. */
  listen(port: number, host: string): Promise<string>;
  /**
   * Ends local calls with `server-shutdown`, closes sockets and the HTTP server; connections still
   * open `tuning.shutdownGraceMs` later (a request sent by half) are cut. Store and matchmaker stay
   * open (their owner closes them).
   */
  close(): Promise<void>;
}

/** Wires API, signaling and the use cases over the given store and matchmaker. Never listens by itself. */
export function createService(deps: ServiceDeps): Service {
  const { config, store, matchmaker, logger } = deps;
  const metrics = createMetrics(() => matchmaker.queueLength());
  const limits = createRateLimits(config.tuning, deps.redis && { client: deps.redis, keys: redisKeys(config.keyPrefix) });
  const standing = createStanding({ store, cacheMs: config.tuning.accountCheckMs, logger });
  const accounts = createAccounts({ config, store, limits, standing });
  // The API is registered before Socket.IO attaches: Socket.IO then answers its own paths
  // (/socket.io/ long-polling) and hands every other request on. A listener added after it would
  // also answer the polling requests and fail with ERR_HTTP_HEADERS_SENT.
  let api: http.RequestListener | undefined;
  const handler: http.RequestListener = (req, res) => api?.(req, res);
  const httpServer = deps.tls ? https.createServer({ cert: deps.tls.cert, key: deps.tls.key }, handler) : http.createServer(handler);
  const io: VchatServer = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: wireLimits.frameMax,
    cors: config.corsOrigins.length > 0 ? { origin: [...config.corsOrigins] } : undefined,
    ...deps.socketOptions,
  });
  const moderation = createModeration({ config, store, standing, io, logger });
  const calls = createCalls({ config, store, matchmaker, io, metrics, limits, logger, canMatch: deps.canMatch, onReport: (r) => moderation.reported(r) });
  const readiness = { store: () => store.ping(), ...deps.readiness };
  api = createApp({ config, accounts, standing, moderation, calls, metrics, readiness, logger });
  const signaling = attachSignaling(io, {
    jwtSecret: config.jwtSecret,
    tuning: config.tuning,
    calls,
    metrics,
    standing,
    sweepMs: config.tuning.accountSweepMs,
    logger,
  });

  let closed: Promise<void> | undefined;
  return {
    io,
    calls,
    metrics,
    httpServer,
    listen(port, host) {
      return new Promise((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(port, host, () => {
          const { port: bound } = httpServer.address() as AddressInfo;
          const h = host.includes(":") ? `[${host}]` : host;
          resolve(`${deps.tls ? "https" : "http"}://${h}:${bound}`);
        });
      });
    },
    close() {
      closed ??= (async () => {
        signaling.stop();
        // Redis down at shutdown, say: the sockets and the port close all the same, then it is told.
        const ended = await calls.shutdown().then(
          () => null,
          (err: unknown) => err,
        );
        const cut = setTimeout(() => httpServer.closeAllConnections(), config.tuning.shutdownGraceMs);
        await new Promise<void>((resolve) => io.close(() => resolve()));
        clearTimeout(cut);
        if (ended) throw new Error(`could not end the calls in progress cleanly: ${(ended as Error).message}`, { cause: ended });
      })();
      return closed;
    },
  };
}
