import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import type { ServerOptions } from "socket.io";
import { nodeMatchmaker, type NodeMatchmaker } from "./cluster/node-matchmaker.ts";
import { startPresence, type Presence, type PresenceOptions } from "./cluster/presence.ts";
import { connectRedis, type RedisConnections } from "./cluster/redis.ts";
import { parseConfig, type ServerConfig, type ServerConfigInput } from "./config.ts";
import { defaultWebDir } from "./dev.ts";
import { createLogger, type Logger } from "./log.ts";
import type { Matchmaker } from "./matching/matchmaker.ts";
import { createMemoryMatchmaker } from "./matching/memory-matchmaker.ts";
import { createRedisMatchmaker, type RedisMatchmakerOptions } from "./matching/redis-matchmaker.ts";
import { createService, type Service } from "./service.ts";
import { openMongoStore } from "./store/mongo-store.ts";
import { openSqliteStore } from "./store/sqlite-store.ts";
import type { Store } from "./store/store.ts";
import { iceUrlProblem } from "../turn/urls.ts";

/** A setting is missing or wrong: the node does not start. The message names the setting. */
export class NodeConfigError extends Error {
  override name = "NodeConfigError";
}

export interface NodeOptions {
  /** @default VCHAT_HOST or "0.0.0.0" */
  host?: string;
  /** 0 picks a free port. @default VCHAT_PORT or 8080 */
  port?: number;
  /** SQLite file when there is no MongoDB. @default VCHAT_DB or ".vchat/vchat.db" */
  db?: string;
  /** `redis://` or `rediss://` URL: the matchmaker, presence, the Socket.IO adapter and shared rate limits live there. @default VCHAT_REDIS_URL */
  redis?: string;
  /** `mongodb://` or `mongodb+srv://` URI: what is kept lives there instead of SQLite. @default VCHAT_MONGODB_URI */
  mongo?: string;
  /** Where settings and secrets are read. @default process.env */
  env?: Record<string, string | undefined>;
  /** A store to use instead of opening one (in-process clusters share one). The node does not close it. */
  store?: Store;
  /** Unique per node. @default random */
  nodeId?: string;
  /** Put before every Redis key; nodes of one service share it. @default VCHAT_REDIS_PREFIX or "vchat" */
  keyPrefix?: string;
  /** Folder of the web client's build; null serves none. @default VCHAT_WEB_DIR or the package's web/dist when built */
  webDir?: string | null;
  /** No logs. */
  quiet?: boolean;
  /** Overrides of the server configuration (tuning knobs, TURN, ...), applied over the environment. */
  config?: Partial<ServerConfigInput>;
  presence?: Partial<PresenceOptions>;
  matchmaker?: Partial<RedisMatchmakerOptions>;
  /** Chat retention in MongoDB, in days. @default VCHAT_CHAT_RETENTION_DAYS or 30 */
  chatRetentionDays?: number;
  /** How often a store in another process (MongoDB, or a given one) is checked. @default 2000 */
  storeCheckMs?: number;
  /** How long MongoDB operations wait for a reachable server before failing. @default 5000 */
  mongoTimeoutMs?: number;
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
  /** Graceful: local calls get `server-shutdown`, the node leaves the cluster, connections close. */
  stop(): Promise<void>;
}

const list = (text: string | undefined) =>
  (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * The server configuration of a production node, from options over environment variables.
 * Secrets only come from the environment (or explicit options), never from flags, so they stay
 * out of process listings and shell history.
 */
export function nodeConfigInput(opts: NodeOptions, env: Record<string, string | undefined>): ServerConfigInput {
  const jwtSecret = opts.config?.jwtSecret ?? env.VCHAT_JWT_SECRET;
  if (!jwtSecret) {
    throw new NodeConfigError(
      "VCHAT_JWT_SECRET is not set: every node of one service needs the same secret of at least 32 characters to sign and check tokens (e.g. `openssl rand -base64 48`)",
    );
  }
  if (jwtSecret.length < 32) throw new NodeConfigError(`VCHAT_JWT_SECRET is too short: it needs at least 32 characters, it has ${jwtSecret.length}`);

  let turn: ServerConfigInput["turn"] = null;
  const turnUrls = list(env.VCHAT_TURN_URLS);
  if (turnUrls.length > 0) {
    const secret = env.VCHAT_TURN_SECRET;
    if (!secret) throw new NodeConfigError("VCHAT_TURN_SECRET is not set: VCHAT_TURN_URLS needs coturn's static-auth-secret to hand out TURN credentials");
    if (secret.length < 16) throw new NodeConfigError(`VCHAT_TURN_SECRET is too short: it needs at least 16 characters, it has ${secret.length}`);
    const bad = turnUrls.map((u) => iceUrlProblem(u, "turn")).find(Boolean);
    if (bad) throw new NodeConfigError(`VCHAT_TURN_URLS: ${bad}`);
    turn = { secret, urls: turnUrls, ...(env.VCHAT_TURN_TTL_SECONDS ? { ttlSeconds: Number(env.VCHAT_TURN_TTL_SECONDS) } : {}) };
  } else if (env.VCHAT_TURN_SECRET) {
    throw new NodeConfigError("VCHAT_TURN_SECRET is set but VCHAT_TURN_URLS is not: list the TURN servers (turn:host:3478?transport=udp,...)");
  }
  const badStun = list(env.VCHAT_STUN_URLS).map((u) => iceUrlProblem(u, "stun")).find(Boolean);
  if (badStun) throw new NodeConfigError(`VCHAT_STUN_URLS: ${badStun}`);

  const port = opts.port ?? (env.VCHAT_PORT !== undefined ? Number(env.VCHAT_PORT) : 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new NodeConfigError(`VCHAT_PORT must be a port number, got "${env.VCHAT_PORT}"`);
  const webDir =
    opts.webDir !== undefined ? opts.webDir : env.VCHAT_WEB_DIR ? env.VCHAT_WEB_DIR : existsSync(join(defaultWebDir, "index.html")) ? defaultWebDir : null;
  const logLevel = opts.quiet ? "silent" : ((env.VCHAT_LOG_LEVEL ?? "info") as ServerConfigInput["logLevel"]);
  return {
    host: opts.host ?? env.VCHAT_HOST ?? "0.0.0.0",
    port,
    jwtSecret,
    turn,
    stunUrls: list(env.VCHAT_STUN_URLS),
    corsOrigins: list(env.VCHAT_CORS_ORIGINS),
    trustProxy: /^(1|true|yes)$/i.test(env.VCHAT_TRUST_PROXY ?? ""),
    webDir,
    logLevel,
    ...opts.config,
  };
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

function checkUrl(url: string, name: string, schemes: string[]): void {
  let scheme: string;
  try {
    scheme = new URL(url).protocol.replace(/:$/, "");
  } catch {
    throw new NodeConfigError(`${name} is not a URL`);
  }
  if (!schemes.includes(scheme)) throw new NodeConfigError(`${name} must start with ${schemes.map((s) => s + "://").join(" or ")}`);
}

/**
 * One production node: configuration from options and the environment, MongoDB or SQLite for
 * what is kept, and with Redis the shared matchmaker, cluster presence, the Socket.IO Redis
 * streams adapter with connection state recovery, and shared REST rate limits. Many such nodes
 * behind a load balancer form one service.
 *
 * When Redis or MongoDB is unreachable the node says so in its log and in `/readyz` (503),
 * refuses new matches with UNAVAILABLE, keeps relaying the signaling of calls in progress, and
 * goes back to normal by itself once the dependency is back.
 *
 * @example
 * const node = await startNode({ port: 0, redis: "redis://127.0.0.1:6379", env: { VCHAT_JWT_SECRET: "..." } });
 * // ... node.url ...
 * await node.stop();
 */
export async function startNode(opts: NodeOptions = {}): Promise<RunningNode> {
  const env = opts.env ?? process.env;
  const config = (() => {
    const input = nodeConfigInput(opts, env);
    try {
      return parseConfig(input);
    } catch (err) {
      throw new NodeConfigError((err as Error).message);
    }
  })();
  const redisUrl = opts.redis ?? env.VCHAT_REDIS_URL ?? null;
  const mongoUri = opts.mongo ?? env.VCHAT_MONGODB_URI ?? null;
  if (redisUrl) checkUrl(redisUrl, "the Redis URL (--redis, VCHAT_REDIS_URL)", ["redis", "rediss"]);
  if (mongoUri) checkUrl(mongoUri, "the MongoDB URI (--mongo, VCHAT_MONGODB_URI)", ["mongodb", "mongodb+srv"]);
  const retentionDays = opts.chatRetentionDays ?? (env.VCHAT_CHAT_RETENTION_DAYS ? Number(env.VCHAT_CHAT_RETENTION_DAYS) : undefined);
  const nodeId = opts.nodeId ?? randomBytes(6).toString("hex");
  const keyPrefix = opts.keyPrefix ?? env.VCHAT_REDIS_PREFIX ?? "vchat";
  const logger = createLogger(config.logLevel).child({ nodeId });
  const log = logger.child({ module: "node" });

  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const cleanUp = async () => {
    for (const fn of cleanups.reverse()) await Promise.resolve().then(fn).catch(() => {});
  };

  try {
    // ---- what is kept -----------------------------------------------------------------
    let store: Store;
    let storeKind: RunningNode["storeKind"];
    if (opts.store) {
      store = opts.store;
      storeKind = "shared";
    } else if (mongoUri) {
      const mongoOpts = { ...(retentionDays !== undefined ? { chatRetentionDays: retentionDays } : {}), ...(opts.mongoTimeoutMs ? { serverSelectionTimeoutMS: opts.mongoTimeoutMs } : {}) };
      store = await openMongoStore(mongoUri, mongoOpts).catch((err: Error) => {
        // The driver's message can carry the URI; the log gets the redacted one only.
        throw new Error(`MongoDB at ${redactUrl(mongoUri)} is not reachable: ${err.name}`);
      });
      storeKind = "mongodb";
      cleanups.push(() => store.close());
    } else {
      store = await openSqliteStore(opts.db ?? env.VCHAT_DB ?? ".vchat/vchat.db");
      storeKind = "sqlite";
      cleanups.push(() => store.close());
    }
    const storeHealth = watchStore(store, storeKind !== "sqlite", opts.storeCheckMs ?? 2000, log);
    cleanups.push(() => storeHealth.stop());

    // ---- matching and events between nodes ---------------------------------------------
    let matchmaker: Matchmaker;
    let nodeMm: NodeMatchmaker | null = null;
    let redisDeps: RedisConnections | null = null;
    let socketOptions: Partial<ServerOptions> | undefined;
    if (redisUrl) {
      redisDeps = await connectRedis(redisUrl, nodeId, log).catch((err: Error) => {
        throw new Error(`could not connect to Redis at ${redactUrl(redisUrl)}: ${err.message}`);
      });
      const deps = redisDeps;
      cleanups.push(() => deps.close());
      const inner = createRedisMatchmaker(deps.cmd, {
        interestWaitMs: config.tuning.interestWaitMs,
        rematchCooldownMs: config.tuning.rematchCooldownMs,
        keyPrefix,
        // Nodes touch their waiting users every heartbeat; a crashed node's waiters drop out soon.
        queueTtlMs: 15_000,
        ...opts.matchmaker,
      });
      matchmaker = nodeMm = nodeMatchmaker(inner);
      socketOptions = {
        adapter: createAdapter(deps.pub, {
          streamName: `${keyPrefix}:{vchat}:sio`,
          channelPrefix: `${keyPrefix}:sio`,
          sessionKeyPrefix: `${keyPrefix}:sio:session:`,
          readCount: 500,
          blockTimeInMs: 2000,
          onlyPlaintext: true,
        }) as ServerOptions["adapter"],
        // A user whose connection drops for a moment gets back their socket id and what was
        // sent meanwhile, on whichever node they reach.
        connectionStateRecovery: { maxDisconnectionDuration: 2 * 60_000, skipMiddlewares: true },
      };
    } else {
      matchmaker = createMemoryMatchmaker(config.tuning);
    }
    cleanups.push(() => matchmaker.close());

    const redisUp = () => !redisDeps || redisDeps.cmd.status === "ready";
    const canMatch = () => redisUp() && storeHealth.up();
    const readiness: Record<string, () => Promise<void>> = {};
    if (redisDeps) {
      const { cmd, pub, ping } = redisDeps;
      readiness.redis = async () => {
        if (cmd.status !== "ready") throw new Error(`redis connection is ${cmd.status}`);
        await ping();
      };
      readiness.events = async () => {
        if (pub.status !== "ready") throw new Error(`socket.io adapter connection is ${pub.status}`);
      };
    }

    const service = createService({
      config,
      store,
      matchmaker,
      logger,
      redis: redisDeps?.cmd,
      socketOptions,
      readiness,
      canMatch,
    });
    cleanups.push(() => closeService(service, log));

    let presence: Presence | null = null;
    if (redisDeps && nodeMm) {
      const mm = nodeMm;
      presence = startPresence({ redis: redisDeps.cmd, io: service.io, matchmaker: mm, calls: service.calls, nodeId, logger, options: opts.presence });
      mm.onStaleSession = async (session) => {
        await service.calls.endCall(session.id, "disconnected");
      };
      const p = presence;
      // Runs after the service closed (its calls ended): the node leaves the cluster on purpose,
      // so the others do not reap it.
      cleanups.splice(cleanups.length - 1, 0, () => p.stop());
    }

    const url = await service.listen(config.port, config.host);
    log.info(
      { url, nodeId, matching: redisDeps ? "redis" : "memory", redis: redisUrl ? redactUrl(redisUrl) : null, redisMode: redisDeps?.mode, store: storeKind, turn: config.turn?.urls ?? [] },
      "vchat node ready",
    );

    let stopped: Promise<void> | undefined;
    return {
      url,
      port: Number(new URL(url).port),
      nodeId,
      config,
      store,
      service,
      matching: redisDeps ? "redis" : "memory",
      storeKind,
      redisUrl: redisUrl ? redactUrl(redisUrl) : null,
      redisMode: redisDeps?.mode ?? null,
      canMatch,
      presence,
      matchmaker,
      stop() {
        stopped ??= (async () => {
          await cleanUp();
          log.info("vchat node stopped");
        })();
        return stopped;
      },
    };
  } catch (err) {
    await cleanUp();
    throw err;
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

/** Closes the service even when ending its calls fails (Redis down at shutdown). */
async function closeService(service: Service, log: Logger): Promise<void> {
  try {
    await service.close();
  } catch (err) {
    log.warn({ err }, "could not end the calls in progress cleanly");
    await new Promise<void>((resolve) => service.io.close(() => resolve()));
  }
}
