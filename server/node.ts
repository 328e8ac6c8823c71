import { createAdapter } from "@socket.io/redis-streams-adapter";
import type { ServerOptions } from "socket.io";
import { redisKeys } from "./cluster/keys.ts";
import { nodeMatchmaker } from "./cluster/node-matchmaker.ts";
import { startPresence, type Presence } from "./cluster/presence.ts";
import { connectRedis, type RedisConnections } from "./cluster/redis.ts";
import type { ServerConfig } from "./config.ts";
import { resources, type StopFailure } from "./lifecycle.ts";
import { createLogger, type Logger } from "./log.ts";
import type { Matchmaker } from "./matching/matchmaker.ts";
import { createMemoryMatchmaker } from "./matching/memory-matchmaker.ts";
import { createRedisMatchmaker } from "./matching/redis-matchmaker.ts";
import type { Calls } from "./calls/calls.ts";
import { createService, type Service } from "./service.ts";
import { openMongoStore } from "./store/mongo-store.ts";
import { openSqliteStore } from "./store/sqlite-store.ts";
import type { Store } from "./store/store.ts";

/** What a node is given rather than opening it itself. */
export interface NodeDeps {
  /** A store to use instead of opening one (nodes in one process share one). The node does not close it. */
  store?: Store;
  /** The root logger. @default one from `config.logLevel` on stderr */
  logger?: Logger;
  /** Serve HTTPS with this certificate (`vchat dev --https`). */
  tls?: { cert: string; key: string };
}

export interface RunningNode {
  url: string;
  port: number;
  nodeId: string;
  config: ServerConfig;
  store: Store;
  service: Service;
  /** "redis" with a Redis URL, else "memory" (one node only). */
  matching: "redis" | "memory";
  storeKind: "mongodb" | "sqlite" | "shared";
  /** The Redis URL without its password, for logs and start lines. */
  redisUrl: string | null;
  /** How Redis was found: a standalone server, or a Redis Cluster (asked at connect). */
  redisMode: RedisConnections["mode"] | null;
  /** Whether new matches are accepted now (every dependency reachable). */
  canMatch(): boolean;
  presence: Presence | null;
  matchmaker: Matchmaker;
  /**
   * Graceful, in the reverse order of the start: local calls get `server-shutdown`, sockets and
   * the port close (connections still open after `tuning.shutdownGraceMs` are cut), the node
   * leaves the cluster, then the matchmaker, Redis and the store close. Resolves to the steps
   * that failed (also logged); [] when all went well.
   */
  stop(): Promise<StopFailure[]>;
}

/** The URL without its password, for logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/**
 * One vchat node: the one place where a node's parts are opened, wired and started, in order,
 * and closed again by one `stop()` in the reverse order. `vchat serve` (configuration from the
 * environment) and `vchat dev` (local secrets, coturn and a dev preset, one node or several)
 * both start their nodes here.
 *
 * What is kept lives in MongoDB (`config.mongo`), in SQLite (`config.db`) or in a given store;
 * with `config.redis` the node shares the matchmaker, presence, events (Socket.IO streams
 * adapter with connection state recovery) and REST rate limits with the other nodes, else it
 * matches in process. Before it listens, it closes the calls a crash left open.
 *
 * When Redis or MongoDB is unreachable the node says so in its log and in `/readyz` (503),
 * refuses new matches with UNAVAILABLE, keeps relaying the signaling of calls in progress, and
 * goes back to normal by itself once the dependency is back.
 *
 * @example
 * const node = await startNode(parseConfig({ port: 0, jwtSecret, redis: "redis://127.0.0.1:6379" }));
 * // ... node.url ...
 * await node.stop();
 */
export async function startNode(config: ServerConfig, deps: NodeDeps = {}): Promise<RunningNode> {
  const { nodeId, tuning } = config;
  const keys = redisKeys(config.keyPrefix);
  const logger = (deps.logger ?? createLogger(config.logLevel)).child({ nodeId });
  const log = logger.child({ module: "node" });
  const opened = resources(log);

  try {
    // ---- what is kept -----------------------------------------------------------------
    let store: Store;
    let storeKind: RunningNode["storeKind"];
    if (deps.store) {
      store = deps.store;
      storeKind = "shared";
    } else if (config.mongo) {
      const uri = config.mongo;
      store = await openMongoStore(uri, {
        ...(config.chatRetentionDays !== undefined ? { chatRetentionDays: config.chatRetentionDays } : {}),
        serverSelectionTimeoutMS: tuning.mongoTimeoutMs,
      }).catch((err: Error) => {
        // The driver's message can carry the URI; the log gets the redacted one only.
        throw new Error(`MongoDB at ${redactUrl(uri)} is not reachable: ${err.name}`);
      });
      storeKind = "mongodb";
    } else {
      store = await openSqliteStore(config.db);
      storeKind = "sqlite";
    }
    if (!deps.store) opened.add("store", () => store.close());
    const storeHealth = watchStore(store, storeKind !== "sqlite", tuning.storeCheckMs, log);
    opened.add("store check", () => storeHealth.stop());

    // ---- matching and events between nodes ---------------------------------------------
    let redis: RedisConnections | null = null;
    if (config.redis) {
      const url = config.redis;
      redis = await connectRedis(url, nodeId, keys, log).catch((err: Error) => {
        throw new Error(`could not connect to Redis at ${redactUrl(url)}: ${err.message}`);
      });
      const r = redis;
      opened.add("redis", () => r.close());
    }
    const nodeMm = redis
      ? nodeMatchmaker(
          createRedisMatchmaker(redis.cmd, {
            interestWaitMs: tuning.interestWaitMs,
            rematchCooldownMs: tuning.rematchCooldownMs,
            keyPrefix: config.keyPrefix,
            queueTtlMs: tuning.queueTtlMs,
          }),
        )
      : null;
    const matchmaker: Matchmaker = nodeMm ?? createMemoryMatchmaker(tuning);
    opened.add("matchmaker", () => matchmaker.close());

    const socketOptions: Partial<ServerOptions> | undefined = redis
      ? {
          adapter: createAdapter(redis.pub, { ...keys.adapter, readCount: 500, blockTimeInMs: 2000, onlyPlaintext: true }) as ServerOptions["adapter"],
          // A user whose connection drops for a moment gets back their socket id and what was
          // sent meanwhile, on whichever node they reach.
          connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: true },
        }
      : undefined;
    const redisUp = () => !redis || redis.cmd.status === "ready";
    const canMatch = () => redisUp() && storeHealth.up();
    const readiness: Record<string, () => Promise<void>> = {};
    if (redis) {
      const { cmd, pub, ping } = redis;
      readiness.redis = async () => {
        if (cmd.status !== "ready") throw new Error(`redis connection is ${cmd.status}`);
        await ping();
      };
      readiness.events = async () => {
        if (pub.status !== "ready") throw new Error(`socket.io adapter connection is ${pub.status}`);
      };
    }
    const service = createService({ config, store, matchmaker, logger, redis: redis?.cmd, socketOptions, readiness, canMatch, tls: deps.tls });

    // ---- cluster presence: after the service (it watches its sockets) ----------------------
    // Stopped after the service closed (its calls ended): the node leaves the cluster on
    // purpose, so the others do not reap it.
    let presence: Presence | null = null;
    if (redis && nodeMm) {
      const p = startPresence({ redis: redis.cmd, io: service.io, matchmaker: nodeMm, calls: service.calls, nodeId, logger, options: tuning.presence });
      presence = p;
      opened.add("presence", () => p.stop());
    }

    await closeLeftOpen({ store, matchmaker, presence, calls: service.calls, log });

    // ---- serving: last in, first out ---------------------------------------------------------
    opened.add("service", () => service.close());
    const url = await service.listen(config.port, config.host);
    const redisUrl = config.redis ? redactUrl(config.redis) : null;
    log.info(
      { url, matching: redis ? "redis" : "memory", redis: redisUrl, redisMode: redis?.mode, store: storeKind, turn: config.turn?.urls ?? [] },
      "vchat node ready",
    );

    let stopped: Promise<StopFailure[]> | undefined;
    return {
      url,
      port: Number(new URL(url).port),
      nodeId,
      config,
      store,
      service,
      matching: redis ? "redis" : "memory",
      storeKind,
      redisUrl,
      redisMode: redis?.mode ?? null,
      canMatch,
      presence,
      matchmaker,
      stop() {
        stopped ??= opened.close().then((failed) => {
          log.info({ failed: failed.map((f) => f.step) }, "vchat node stopped");
          return failed;
        });
        return stopped;
      },
    };
  } catch (err) {
    await opened.close();
    throw err;
  }
}

/**
 * Closes, with `server-restart`, the calls that a crash left open, before the node serves. In
 * process that is every open session. On a cluster only those of no live node: a dead node's
 * calls are ended by presence when its socket list is still there; those of nodes that died
 * together and stayed down until their socket lists expired are ended here, and so are the
 * sessions that Redis no longer has at all.
 */
async function closeLeftOpen({
  store,
  matchmaker,
  presence,
  calls,
  log,
}: {
  store: Store;
  matchmaker: Matchmaker;
  presence: Presence | null;
  calls: Calls;
  log: Logger;
}): Promise<void> {
  try {
    const at = new Date().toISOString();
    let closed = 0;
    for (const session of presence ? await presence.orphanedSessions() : []) {
      if (await calls.endCall(session.id, "server-restart")) closed++;
    }
    for (const session of await store.listOpenSessions()) {
      if (await matchmaker.getSession(session.id)) continue;
      if (await store.endSession(session.id, { at, reason: "server-restart", by: null })) closed++;
    }
    if (closed > 0) log.warn({ sessions: closed }, "closed the calls that a crash had left open (server-restart)");
  } catch (err) {
    // Not a reason to stay down: the next start tries again.
    log.warn({ err: (err as Error).message }, "could not close the calls that a crash left open");
  }
}

/** The store's reachability (MongoDB, checked every few seconds) for matching and logs. SQLite is in process: always up. */
function watchStore(store: Store, remote: boolean, everyMs: number, log: Logger) {
  let up = true;
  let timer: NodeJS.Timeout | undefined;
  if (remote) {
    let checking = false;
    timer = setInterval(async () => {
      if (checking) return;
      checking = true;
      try {
        await store.ping();
        if (!up) log.info("the store is back: matching again");
        up = true;
      } catch (err) {
        if (up) log.error({ err: (err as Error).name }, "the store (MongoDB) is unreachable: new matches are refused (UNAVAILABLE), /readyz says 503");
        up = false;
      } finally {
        checking = false;
      }
    }, everyMs);
    timer.unref();
  }
  return { up: () => up, stop: () => clearInterval(timer) };
}
