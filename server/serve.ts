import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig, secretMinLength, type ServerConfig, type ServerConfigInput } from "./config.ts";
import { redactUrl, startNode, type NodeDeps, type RunningNode } from "./node.ts";
import type { Store } from "./store/store.ts";
import { iceUrlProblem } from "../turn/urls.ts";

export { redactUrl, type RunningNode };

/** The web client's build shipped in the package, served when it exists. */
const defaultWebDir = fileURLToPath(new URL("../web/dist", import.meta.url));

/** The package's web client build, or null when it was not built. */
export function builtWebDir(): string | null {
  return existsSync(join(defaultWebDir, "index.html")) ? defaultWebDir : null;
}

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
  /** A store to use instead of opening one. The node does not close it. */
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
  /** Chat retention in MongoDB, in days. @default VCHAT_CHAT_RETENTION_DAYS or the store's (30) */
  chatRetentionDays?: number;
  /** How often a store in another process (MongoDB, or a given one) is checked. @default tuning */
  storeCheckMs?: number;
  /** How long MongoDB operations wait for a reachable server before failing. @default tuning */
  mongoTimeoutMs?: number;
}

const list = (text: string | undefined) =>
  (text ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

/**
 * The configuration of a production node, from options over environment variables.
 * Secrets only come from the environment (or explicit options), never from flags, so they stay
 * out of process listings and shell history.
 */
export function nodeConfigInput(opts: NodeOptions, env: Record<string, string | undefined>): ServerConfigInput {
  const jwtSecret = secret(
    "VCHAT_JWT_SECRET",
    opts.config?.jwtSecret ?? env.VCHAT_JWT_SECRET,
    secretMinLength.jwt,
    `every node of one service needs the same secret of at least ${secretMinLength.jwt} characters to sign and check tokens (e.g. \`openssl rand -base64 48\`)`,
  );

  let turn: ServerConfigInput["turn"] = null;
  const turnUrls = list(env.VCHAT_TURN_URLS);
  if (turnUrls.length > 0) {
    const turnSecret = secret(
      "VCHAT_TURN_SECRET",
      env.VCHAT_TURN_SECRET,
      secretMinLength.turn,
      "VCHAT_TURN_URLS needs coturn's static-auth-secret to hand out TURN credentials",
    );
    const bad = turnUrls.map((u) => iceUrlProblem(u, "turn")).find(Boolean);
    if (bad) throw new NodeConfigError(`VCHAT_TURN_URLS: ${bad}`);
    turn = { secret: turnSecret, urls: turnUrls, ...(env.VCHAT_TURN_TTL_SECONDS ? { ttlSeconds: Number(env.VCHAT_TURN_TTL_SECONDS) } : {}) };
  } else if (env.VCHAT_TURN_SECRET) {
    throw new NodeConfigError("VCHAT_TURN_SECRET is set but VCHAT_TURN_URLS is not: list the TURN servers (turn:host:3478?transport=udp,...)");
  }
  const badStun = list(env.VCHAT_STUN_URLS)
    .map((u) => iceUrlProblem(u, "stun"))
    .find(Boolean);
  if (badStun) throw new NodeConfigError(`VCHAT_STUN_URLS: ${badStun}`);

  const adminSecret = opts.config?.adminSecret ?? env.VCHAT_ADMIN_SECRET ?? null;
  if (adminSecret !== null && adminSecret.length < secretMinLength.admin) {
    throw new NodeConfigError(`VCHAT_ADMIN_SECRET is too short: it needs at least ${secretMinLength.admin} characters, it has ${adminSecret.length}`);
  }
  if (adminSecret !== null && adminSecret === jwtSecret)
    throw new NodeConfigError("VCHAT_ADMIN_SECRET must differ from VCHAT_JWT_SECRET: a user's token must never pass as an admin's");

  const port = opts.port ?? (env.VCHAT_PORT !== undefined ? Number(env.VCHAT_PORT) : 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new NodeConfigError(`VCHAT_PORT must be a port number, got "${env.VCHAT_PORT}"`);
  const redis = opts.redis ?? env.VCHAT_REDIS_URL ?? null;
  const mongo = opts.mongo ?? env.VCHAT_MONGODB_URI ?? null;
  if (redis) checkUrl(redis, "the Redis URL (--redis, VCHAT_REDIS_URL)", ["redis", "rediss"]);
  if (mongo) checkUrl(mongo, "the MongoDB URI (--mongo, VCHAT_MONGODB_URI)", ["mongodb", "mongodb+srv"]);
  const chatRetentionDays = opts.chatRetentionDays ?? (env.VCHAT_CHAT_RETENTION_DAYS ? Number(env.VCHAT_CHAT_RETENTION_DAYS) : undefined);
  const webDir = opts.webDir !== undefined ? opts.webDir : env.VCHAT_WEB_DIR ? env.VCHAT_WEB_DIR : builtWebDir();
  const logLevel = opts.quiet ? "silent" : ((env.VCHAT_LOG_LEVEL ?? "info") as ServerConfigInput["logLevel"]);
  return {
    host: opts.host ?? env.VCHAT_HOST ?? "0.0.0.0",
    port,
    jwtSecret,
    adminSecret,
    turn,
    stunUrls: list(env.VCHAT_STUN_URLS),
    corsOrigins: list(env.VCHAT_CORS_ORIGINS),
    trustProxyHops: trustProxyHops(env.VCHAT_TRUST_PROXY),
    webDir,
    logLevel,
    ...((opts.db ?? env.VCHAT_DB) ? { db: opts.db ?? env.VCHAT_DB } : {}),
    mongo,
    redis,
    ...((opts.keyPrefix ?? env.VCHAT_REDIS_PREFIX) ? { keyPrefix: opts.keyPrefix ?? env.VCHAT_REDIS_PREFIX } : {}),
    ...(opts.nodeId ? { nodeId: opts.nodeId } : {}),
    ...(chatRetentionDays !== undefined ? { chatRetentionDays } : {}),
    ...opts.config,
    tuning: {
      ...(opts.storeCheckMs ? { storeCheckMs: opts.storeCheckMs } : {}),
      ...(opts.mongoTimeoutMs ? { mongoTimeoutMs: opts.mongoTimeoutMs } : {}),
      ...opts.config?.tuning,
    },
  };
}

/** A secret from the environment: set, and long enough. */
function secret(name: string, value: string | undefined, min: number, why: string): string {
  if (!value) throw new NodeConfigError(`${name} is not set: ${why}`);
  if (value.length < min) throw new NodeConfigError(`${name} is too short: it needs at least ${min} characters, it has ${value.length}`);
  return value;
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

/** The configuration of `vchat serve`, parsed once; a wrong setting is a NodeConfigError naming it. */
function serveConfig(opts: NodeOptions, env: Record<string, string | undefined> = opts.env ?? process.env): ServerConfig {
  const input = nodeConfigInput(opts, env);
  try {
    return parseConfig(input);
  } catch (err) {
    throw new NodeConfigError((err as Error).message);
  }
}

/**
 * `vchat serve`: one production node with its configuration from options and the environment
 * (`serveConfig`), started by `startNode`. Many such nodes on one Redis behind a load balancer
 * form one service.
 *
 * @example
 * const node = await serveNode({ port: 0, redis: "redis://127.0.0.1:6379", env: { VCHAT_JWT_SECRET: "..." } });
 * // ... node.url ...
 * await node.stop();
 */
export async function serveNode(opts: NodeOptions = {}, deps: NodeDeps = {}): Promise<RunningNode> {
  const config = serveConfig(opts);
  return startNode(config, { ...deps, ...(opts.store ? { store: opts.store } : {}) });
}

/**
 * VCHAT_TRUST_PROXY: how many proxies append to X-Forwarded-For in front of the node (0-5);
 * `true`/`yes` mean one, as before counts existed.
 */
function trustProxyHops(text: string | undefined): number {
  const value = (text ?? "").trim().toLowerCase();
  if (value === "" || value === "false" || value === "no") return 0;
  if (value === "true" || value === "yes") return 1;
  if (/^[0-5]$/.test(value)) return Number(value);
  throw new NodeConfigError(`VCHAT_TRUST_PROXY must be the number of proxies in front of the node (0-5), got "${text}"`);
}
