// bench/socket-cap: what the per-user socket cap costs each new connection on a cluster. A new
// socket asks every node for its user's sockets (the adapter's fetchSockets through Redis);
// the baseline is the same question asked of this node only, in the same run, with the ratio.
// Bounded: a fixed number of questions, one at a time, on 2 nodes over a local redis-server.
//
//   node bench/socket-cap/run.ts [--nodes 2] [--asks 300]
import { parseArgs } from "node:util";
import { io as connect } from "socket.io-client";
import { restClient } from "../../protocol/index.ts";
import { redisInstalled, startRedis } from "../../server/cluster/redis-process.ts";
import { startDevServer } from "../../server/dev.ts";
import { userRoom } from "../../server/signaling/types.ts";

const { values } = parseArgs({ options: { nodes: { type: "string", default: "2" }, asks: { type: "string", default: "300" } } });
const NODES = Math.max(2, Math.min(Number(values.nodes), 8));
const ASKS = Math.max(10, Math.min(Number(values.asks), 5000));
if (!redisInstalled()) {
  console.log("skipped: redis-server is not installed");
  process.exit(0);
}

const redis = await startRedis();
const cluster = await startDevServer({
  nodes: NODES,
  port: 0,
  db: ":memory:",
  redis: redis.url,
  turn: false,
  quiet: true,
  webDir: null,
  config: { tuning: { signupsPerMinute: 1_000_000 } },
});
const sockets: ReturnType<typeof connect>[] = [];
try {
  // One user with a socket on every node: what the cap counts.
  const { token, user } = await restClient({ baseUrl: cluster.urls[0]! }).call("guest", {});
  for (const url of cluster.urls.slice(0, 3)) {
    const socket = connect(url, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => (socket.once("connect", () => resolve()), socket.once("connect_error", reject)));
    sockets.push(socket);
  }
  const io = cluster.nodes[0]!.service.io;
  const room = userRoom(user.id);
  const time = async (ask: () => Promise<unknown[]>) => {
    const ms: number[] = [];
    for (let i = 0; i < ASKS; i++) {
      const t = performance.now();
      await ask();
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    return { p50: ms[Math.floor(ms.length / 2)]!, p99: ms[Math.floor(ms.length * 0.99)]! };
  };
  const found = (await io.in(room).fetchSockets()).length;
  if (found !== sockets.length) throw new Error(`fetchSockets found ${found} sockets, expected ${sockets.length}`);
  await time(() => io.local.in(room).fetchSockets()); // warm-up
  const local = await time(() => io.local.in(room).fetchSockets());
  const all = await time(() => io.in(room).fetchSockets());
  console.log(`${NODES} nodes on a local redis-server, ${ASKS} asks each, one at a time`);
  console.log(`this node only (baseline):      p50 ${local.p50.toFixed(3)} ms, p99 ${local.p99.toFixed(3)} ms`);
  console.log(`every node (what the cap asks): p50 ${all.p50.toFixed(3)} ms, p99 ${all.p99.toFixed(3)} ms`);
  console.log(`ratio p50: ${(all.p50 / local.p50).toFixed(1)}x; the cap runs after the connection is accepted, so this is not connect latency`);
} finally {
  sockets.forEach((s) => s.disconnect());
  await cluster.stop();
  await redis.stop();
}
