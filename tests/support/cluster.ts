import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from "../../server/cluster/local-cluster.ts";
import { startRedis, startRedisCluster } from "../../server/testing/redis-server.ts";

/**
 * `nodes` nodes of `vchat serve` in this process on one Redis, as the cluster tests run them:
 * free ports, one in-memory store, no coturn, no web client, no logs.
 */
export function testCluster(redis: string, nodes: number, config: LocalClusterOptions["config"]): Promise<LocalCluster> {
  return startLocalCluster({ nodes, port: 0, db: ":memory:", redis, turn: false, quiet: true, webDir: null, config });
}

/** What the nodes share: one `redis-server`, or a Redis Cluster of 3 masters reached through one of them. */
export const redisKinds = [
  { name: "a redis-server", mode: "standalone", start: () => startRedis() },
  {
    name: "a 3-master Redis Cluster",
    mode: "cluster",
    start: async () => {
      const cluster = await startRedisCluster(3);
      // Any master will do: the node asks it, finds cluster mode and learns the others.
      return { url: `redis://127.0.0.1:${cluster.nodes[1]!.port}`, stop: cluster.stop };
    },
  },
] as const;
