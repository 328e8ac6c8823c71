import { startLocalCluster, type LocalCluster } from "../../server/cluster/local-cluster.ts";
import { exitCodes } from "../exit.ts";

export interface DevNodesOptions {
  host: string;
  port: number;
  db: string;
  turn: boolean;
  json: boolean;
  nodes: number;
  redis?: string;
}

/** `vchat dev --nodes N`: runs N nodes over one Redis until the signal, then stops them. */
export async function devNodes(opts: DevNodesOptions, signal: Promise<unknown>): Promise<number> {
  const cluster = await startLocalCluster({
    nodes: opts.nodes,
    host: opts.host,
    port: opts.port,
    db: opts.db,
    redis: opts.redis,
    turn: opts.turn ? "auto" : false,
    quiet: opts.json,
  });
  process.stdout.write(opts.json ? JSON.stringify(clusterStartLine(cluster, opts)) + "\n" : banner(cluster, opts));
  await signal;
  await cluster.stop();
  if (!opts.json) process.stdout.write("vchat dev stopped\n");
  return exitCodes.ok;
}

export function clusterStartLine(cluster: LocalCluster, opts: Pick<DevNodesOptions, "db">) {
  return {
    event: "ready",
    nodes: cluster.nodes.map((n) => ({ nodeId: n.nodeId, url: `${n.url}/`, ws: n.url.replace(/^http/, "ws") + "/socket.io/" })),
    urls: cluster.urls.map((u) => `${u}/`),
    redis: cluster.redis.url,
    redisSpawned: cluster.redis.spawned,
    turn: cluster.turn?.urls ?? [],
    db: opts.db,
    web: cluster.nodes[0]?.config.webDir != null,
  };
}

function banner(cluster: LocalCluster, opts: DevNodesOptions): string {
  const s = clusterStartLine(cluster, opts);
  return (
    [
      `vchat dev is running ${s.nodes.length} nodes`,
      ...s.nodes.map((n, i) => `  node ${i + 1}   ${n.url}`),
      `  redis    ${s.redis}${s.redisSpawned ? "  (a local redis-server, stopped with vchat dev)" : ""}`,
      `  turn     ${s.turn.length ? s.turn.join("  ") : opts.turn ? "none (install coturn for relayed calls)" : "off (--no-turn)"}`,
      `  db       ${s.db}`,
      "Users on different nodes are matched with each other. Ctrl-C stops it.",
    ].join("\n") + "\n"
  );
}
