import type { DevServerOptions, LocalCluster } from "../../server/dev.ts";
import { startRedis, startRedisCluster, type StartRedisOptions } from "../../server/cluster/redis-process.ts";
import { testDev } from "./dev.ts";

/** An auth password and TLS (the URL is then the `rediss://` one). */
type RedisSecurity = Pick<StartRedisOptions, "password" | "tls">;

/**
 * `nodes` nodes of `vchat serve` in this process on one Redis, as the cluster tests run them:
 * free ports, one in-memory store, no coturn, no web client, no logs.
 */
export function testCluster(redis: string, nodes: number, config: DevServerOptions["config"]): Promise<LocalCluster> {
  return testDev({ nodes, redis, config });
}

/** What the nodes share: one `redis-server`, or a Redis Cluster of 3 masters reached through one of them. */
export const redisKinds = [
  {
    name: "a redis-server",
    mode: "standalone",
    start: async (opts: RedisSecurity = {}) => {
      const redis = await startRedis(opts);
      return { url: opts.tls ? redis.tlsUrl! : redis.url, stop: redis.stop };
    },
  },
  {
    name: "a 3-master Redis Cluster",
    mode: "cluster",
    start: async (opts: RedisSecurity = {}) => {
      const cluster = await startRedisCluster(3, opts);
      // Any master will do: the node asks it, finds cluster mode and learns the others.
      return { url: (opts.tls ? cluster.tlsUrls! : cluster.urls)[1]!, stop: cluster.stop };
    },
  },
] as const;
