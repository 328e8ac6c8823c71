import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import type { Logger } from "../log.ts";
import type { RedisKeys } from "./keys.ts";

/** What the node's Redis users take: a standalone Redis (ElastiCache cluster mode off) or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Reconnects quickly at first, then once a second, forever: Redis coming back is noticed within a second. */
const retryStrategy = (attempt: number) => Math.min(50 * attempt, 1000);

export interface RedisConnections {
  /** Commands (matchmaker, presence, rate limits): fail at once while Redis is unreachable. */
  cmd: RedisClient;
  /** The Socket.IO adapter's: queue what they send through a short outage. */
  pub: RedisClient;
  mode: "standalone" | "cluster";
  /** Resolves when Redis can serve vchat: the server answers, or the cluster serves every slot. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Connects to the Redis at `url`. A server in cluster mode (ElastiCache's configuration endpoint,
 * or any node of a Redis Cluster) is found out by asking it, and then reached as a cluster: all of
 * vchat's keys that a script or transaction touches together share the `{vchat}` hash tag.
 *
 * Two kinds of connections. Commands (matchmaker, presence, rate limits) fail at once while Redis
 * is unreachable, so users get UNAVAILABLE instead of a hang. The adapter's connections queue what
 * they send for a few reconnection attempts, so a short Redis restart loses no signaling between
 * nodes; after that they fail and local delivery goes on.
 *
 * @example
 * const redis = await connectRedis("redis://127.0.0.1:6379", "node-1", redisKeys("vchat"), log);
 * createRedisMatchmaker(redis.cmd); createAdapter(redis.pub);
 * await redis.close();
 */
export async function connectRedis(url: string, nodeId: string, keys: RedisKeys, log: Logger): Promise<RedisConnections> {
  const mode = (await clusterEnabled(url)) ? "cluster" : "standalone";
  const node: RedisOptions = { lazyConnect: true, connectionName: `vchat-${nodeId}` };
  // Commands issued in one tick go out in one write: under load much of a node's Redis cost was
  // one syscall per command. (Not for the adapter's connections: its stream reader blocks.)
  const cmdOpts = { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true };
  // Every 150 ms, failing what waits after 11 attempts: a restart within ~1.6 s loses no event
  // between nodes (a match told to a user on another node above all), and local delivery, which
  // the adapter runs after publishing, never waits longer than that.
  // No auto-pipelining here: measured in bench/cluster, it halved matches/s (the adapter awaits
  // every publish before delivering locally).
  const pubRetry = () => 150;
  let cmd: RedisClient;
  let pub: RedisClient;
  if (mode === "cluster") {
    const { seed, redisOptions } = clusterSeed(url, node);
    const common: ClusterOptions = {
      lazyConnect: true,
      redisOptions,
      // Connect to the names CLUSTER SLOTS gives, unresolved: ioredis would otherwise connect to
      // their IPs, which ElastiCache's TLS certificates (naming hosts) do not cover.
      dnsLookup: (address, callback) => callback(null, address),
    };
    cmd = new Cluster([seed], {
      ...common,
      clusterRetryStrategy: retryStrategy,
      enableOfflineQueue: false,
      enableAutoPipelining: true,
      redisOptions: { ...redisOptions, maxRetriesPerRequest: 1 },
    });
    pub = new Cluster([seed], { ...common, clusterRetryStrategy: pubRetry, redisOptions: { ...redisOptions, maxRetriesPerRequest: 10 } });
  } else {
    const base: RedisOptions = {
      ...node,
      retryStrategy,
      // After a failover (ElastiCache Multi-AZ) the old primary answers READONLY: reconnect, which
      // resolves the primary endpoint again, and send the command again.
      reconnectOnError: (err) => (err.message.startsWith("READONLY") ? 2 : false),
    };
    cmd = new Redis(url, { ...base, ...cmdOpts });
    pub = new Redis(url, { ...base, retryStrategy: pubRetry, maxRetriesPerRequest: 10 });
  }
  // The adapter duplicates the publisher for its stream readers and subscriber; keep them to close them.
  const extra: RedisClient[] = [];
  const duplicate = pub.duplicate.bind(pub) as (...args: unknown[]) => RedisClient;
  pub.duplicate = ((...args: unknown[]) => {
    const client = duplicate(...args);
    extra.push(client);
    return client;
  }) as typeof pub.duplicate;

  let down = false;
  let closing = false;
  let lastError = "";
  cmd.on("error", (err: Error) => {
    // ioredis repeats the error on every reconnection attempt: log each distinct one once.
    if (err.message !== lastError) log.warn({ err: err.message }, "redis error");
    lastError = err.message;
  });
  pub.on("error", () => {
    // Reported through `cmd`: both talk to the same server.
  });
  cmd.on("close", () => {
    if (down || closing) return;
    down = true;
    log.error("redis is unreachable: new matches are refused (UNAVAILABLE), calls in progress go on, /readyz says 503");
  });
  cmd.on("ready", () => {
    if (!down) return;
    down = false;
    lastError = "";
    log.info("redis is back: matching again");
  });

  try {
    await Promise.all([cmd.connect(), pub.connect()]);
  } catch (err) {
    cmd.disconnect();
    pub.disconnect();
    throw err;
  }
  return {
    cmd,
    pub,
    mode,
    async ping() {
      if (!(cmd instanceof Cluster)) return void (await cmd.ping());
      // The shard of vchat's keys must answer, and the cluster must serve all its slots (the
      // adapter's session keys are spread over them). A lost master drops out of ioredis' pool,
      // so pinging the masters it knows would not see it; the other masters do.
      const [info] = await Promise.all([cmd.cluster("INFO"), cmd.exists(keys.probe)]);
      if (!/^cluster_state:ok\b/m.test(String(info))) throw new Error("the Redis Cluster does not serve all its slots (cluster_state is not ok)");
    },
    async close() {
      closing = true;
      await Promise.allSettled([cmd.quit(), pub.quit()]);
      for (const c of extra) c.disconnect();
      cmd.disconnect();
      pub.disconnect();
    },
  };
}

/** Asks the server whether it runs in cluster mode. Throws when it cannot be reached. */
async function clusterEnabled(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // connect() only says "Connection is closed"; the reason (a refused password, a certificate
  // not trusted, a refused connection) comes as an error event.
  let reason: Error | undefined;
  probe.on("error", (err: Error) => (reason ??= err));
  try {
    await probe.connect();
    return /^cluster_enabled:1\b/m.test(await probe.info("cluster"));
  } catch (err) {
    throw reason ?? err;
  } finally {
    probe.disconnect();
  }
}

/** The seed node and the per-node options of a cluster, from a `redis://` or `rediss://` URL. */
function clusterSeed(url: string, node: RedisOptions): { seed: { host: string; port: number }; redisOptions: ClusterOptions["redisOptions"] } {
  const u = new URL(url);
  const db = u.pathname.replace(/^\//, "");
  if (db && db !== "0") throw new Error(`a Redis Cluster has only database 0, and the URL asks for database ${db}`);
  return {
    seed: { host: u.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(u.port || 6379) },
    redisOptions: {
      connectionName: node.connectionName,
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(u.protocol === "rediss:" ? { tls: {} } : {}),
    },
  };
}
