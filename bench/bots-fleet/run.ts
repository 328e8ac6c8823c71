// bench/bots-fleet: what coordinating `vchat bots` over Redis costs. The same plan runs with
// `--workers 2 --local` and, as the baseline in the same run, `--workers 1 --local`; for each,
// the coordinator's CPU and the coordinator Redis's commands (INFO commandstats, reset before each
// run) per call record (one leg: one bot's view of one call), and the ratio of the two.
//
//   node bench/bots-fleet/run.ts [--pairs 6] [--duration 12] [--churn 4]
//
// `vchat dev` (one node, no TURN: the bots call over loopback host candidates) and the
// coordinator's redis-server are started here; each `vchat bots` runs as its user runs it, a child
// process starting its local workers. The coordinator's CPU is its own process's (not its
// workers'), from the barrier to the report, as the coordinator reports it (`host.cpuPct` over
// the run); its start-up is left out. Churn makes calls end during the run, so records stream.
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import type { FleetReport } from "../../bots/fleet/merge.ts";
import { startRedis } from "../../server/cluster/redis-process.ts";
import { startDev } from "../support/dev.ts";
import { spawnNode, stop } from "../support/process.ts";

const { values } = parseArgs({
  options: {
    pairs: { type: "string", default: "6" },
    duration: { type: "string", default: "12" },
    churn: { type: "string", default: "4" },
  },
});
const PAIRS = Math.min(Math.max(1, Number(values.pairs)), 100);
const DURATION_S = Math.min(Math.max(5, Number(values.duration)), 120);
const CHURN_S = Math.min(Math.max(2, Number(values.churn)), DURATION_S);
const cli = new URL("../../cli/vchat.ts", import.meta.url).pathname;

interface Result {
  workers: number;
  records: number;
  connected: number;
  coordinatorCpuS: number;
  redisOps: number;
  valid: boolean;
}

async function runOnce(url: string, redisUrl: string, redis: Redis, workers: number): Promise<Result> {
  await redis.config("RESETSTAT");
  const args = ["bots", "--url", url, "--pairs", String(PAIRS), "--duration", `${DURATION_S}s`, "--churn", `${CHURN_S}s`, "--ramp", "10"];
  args.push("--workers", String(workers), "--local", "--coordinator", redisUrl, "--allow-overload", "--json");
  const child = spawnNode([cli, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  await new Promise((r) => child.once("exit", r));
  const report = JSON.parse(out) as FleetReport;
  const stats = await redis.info("commandstats");
  const ops = [...stats.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].filter(([, cmd]) => cmd !== "config" && cmd !== "info").reduce((n, m) => n + Number(m[2]), 0);
  return {
    workers,
    records: report.calls.reduce((n, c) => n + c.legs.length, 0),
    connected: report.summary.connected,
    coordinatorCpuS: (report.host.cpuPct / 100) * report.summary.durationS,
    redisOps: ops,
    valid: report.valid,
  };
}

const { url, child: dev } = await startDev({ turn: false });
const coordinator = await startRedis();
const redis = new Redis(coordinator.url);
try {
  const results: Result[] = [];
  for (const w of [1, 2]) results.push(await runOnce(url, coordinator.url, redis, w));
  console.log(`bots-fleet: ${PAIRS} pairs, ${DURATION_S} s, churn ${CHURN_S} s`);
  console.log("workers  records  connected  coordinator CPU s  per record ms  Redis ops  ops/record  valid");
  for (const r of results) {
    console.log(
      `${String(r.workers).padStart(7)}  ${String(r.records).padStart(7)}  ${String(r.connected).padStart(9)}  ${r.coordinatorCpuS.toFixed(2).padStart(17)}  ${((1000 * r.coordinatorCpuS) / Math.max(1, r.records)).toFixed(1).padStart(13)}  ${String(r.redisOps).padStart(9)}  ${(r.redisOps / Math.max(1, r.records)).toFixed(1).padStart(10)}  ${r.valid}`,
    );
  }
  const [one, two] = results as [Result, Result];
  const per = (r: Result, x: number) => x / Math.max(1, r.records);
  console.log(
    `ratio 2 workers / 1 worker: coordinator CPU per record ${(per(two, two.coordinatorCpuS) / Math.max(1e-9, per(one, one.coordinatorCpuS))).toFixed(2)}, Redis ops per record ${(per(two, two.redisOps) / Math.max(1e-9, per(one, one.redisOps))).toFixed(2)}`,
  );
} finally {
  redis.disconnect();
  await coordinator.stop();
  await stop(dev);
}
