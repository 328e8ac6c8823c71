// bench/cluster: matches/s and signal relay latency of one node with in-process matching against
// two `vchat serve` nodes on one Redis, in the same run, with the ratio. Bounded: a fixed number
// of users for a fixed time per target.
//
//   node bench/cluster/run.ts [--users 400] [--seconds 10] [--relay-interval 250]
//
// Every node runs in its own process (node.ts), the users in two client processes (../support/clients.ts):
// first matching as fast as it goes (join, matched, end, join again), then every call sends a
// candidate each way every --relay-interval ms and the relay latency is recorded. On the cluster each client
// process talks to one node, so users on node 1 are matched with users on node 2 through Redis.
// A local redis-server is started on loopback for the run.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { redisInstalled, startRedis } from "../../server/cluster/redis-process.ts";
import { formatCpu, lines, runClients, spawnNode, stop } from "../support/process.ts";

const { values } = parseArgs({
  options: { users: { type: "string", default: "400" }, seconds: { type: "string", default: "10" }, "relay-interval": { type: "string", default: "250" } },
});
// Moderate on purpose: the latency of the relay path, not of a saturated node's backlog.
const RELAY_INTERVAL = Math.max(20, Math.min(Number(values["relay-interval"]), 5000));
const USERS = Math.max(4, Math.min(Number(values.users), 4000));
const SECONDS = Math.max(1, Math.min(Number(values.seconds), 60));
const RELAY_SECONDS = Math.max(1, Math.ceil(SECONDS / 2));
const PROCS = 2;
const TARGET = 1000;
const here = (file: string) => new URL(file, import.meta.url).pathname;
const secret = randomBytes(32).toString("base64url");

if (!redisInstalled()) {
  console.error("bench/cluster: redis-server is not installed (Debian package redis-server); nothing measured");
  process.exit(1);
}

async function run(label: string, nodeArgs: string[][], redisPid?: number) {
  const prof = process.env.BENCH_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];
  const nodes = nodeArgs.map((args) => spawnNode([...prof, here("./node.ts"), ...args, secret], { stdio: ["ignore", "pipe", "inherit"] }));
  try {
    const urls = await Promise.all(nodes.map(async (n, i) => (JSON.parse(await lines(n, `node ${i + 1}`)()) as { url: string }).url));
    const measure = { nodes: nodes.map((n) => n.pid), ...(redisPid ? { redis: [redisPid] } : {}) };
    const result = await runClients({
      urls,
      users: USERS,
      procs: PROCS,
      seconds: SECONDS,
      relaySeconds: RELAY_SECONDS,
      relayIntervalMs: RELAY_INTERVAL,
      measure,
    });
    return { label, nodes: nodes.length, ...result };
  } finally {
    await Promise.all(nodes.map(stop));
  }
}

const redis = await startRedis();
try {
  const single = await run("1 node, in-process matching", [["single", "-"]]);
  const cluster = await run(
    "2 nodes on Redis",
    [
      ["redis", redis.url],
      ["redis", redis.url],
    ],
    redis.pid(),
  );
  const fmt = (n: number, d = 2) => n.toFixed(d);
  console.log(
    `bench/cluster: ${USERS} users in ${PROCS} client processes; per target ${SECONDS} s of matching, then ${RELAY_SECONDS} s of candidates every ${RELAY_INTERVAL} ms per call side (${Math.round((USERS * 1000) / RELAY_INTERVAL)}/s); every node in its own process`,
  );
  console.log("target                        matches/s  signals  relay p50 ms  relay p99 ms");
  for (const r of [single, cluster]) {
    console.log(
      `${r.label.padEnd(29)} ${fmt(r.matchesPerSecond, 0).padStart(9)}  ${String(r.signals).padStart(7)}  ${fmt(r.p50).padStart(12)}  ${fmt(r.p99).padStart(12)}`,
    );
  }
  for (const r of [single, cluster]) console.log(formatCpu(r.label, r.cpu));
  console.log(
    `ratio cluster/single: matches/s ${fmt(cluster.matchesPerSecond / single.matchesPerSecond)}x, relay p50 ${fmt(cluster.p50 / single.p50)}x, relay p99 ${fmt(cluster.p99 / single.p99)}x`,
  );
  console.log(`target: >= ${TARGET} matches/s on Redis ${cluster.matchesPerSecond >= TARGET ? "met" : "NOT met"}`);
  console.log(JSON.stringify({ bench: "cluster", users: USERS, seconds: SECONDS, relayIntervalMs: RELAY_INTERVAL, single, cluster }));
} finally {
  await redis.stop();
}
