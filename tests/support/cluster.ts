import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from "../../server/cluster/local-cluster.ts";

/**
 * `nodes` nodes of `vchat serve` in this process on one Redis, as the cluster tests run them:
 * free ports, one in-memory store, no coturn, no web client, no logs.
 */
export function testCluster(redis: string, nodes: number, config: LocalClusterOptions["config"]): Promise<LocalCluster> {
  return startLocalCluster({ nodes, port: 0, db: ":memory:", redis, turn: false, quiet: true, webDir: null, config });
}
