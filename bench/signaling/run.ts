// bench/signaling: matches/s and signal relay latency of `vchat dev`, against a bare Socket.IO
// relay (no auth, no validation, no matching beyond "first two waiting") as the floor, in the
// same run, with the ratios. Bounded: a fixed number of users for a fixed time per target.
//
//   node bench/signaling/run.ts [--users 400] [--seconds 10] [--relay-interval 100]
//
// The server runs in its own process (server.ts), the users in two client processes
// (../support/clients.ts). Phase 1, matching as fast as it goes: join, matched, an offer, an
// answer and 10 candidates, the offerer ends the call, both join again. Phase 2, relay latency at
// a fixed, moderate rate: every call sends a candidate each way every --relay-interval ms, so
// both targets carry the same load and the figure is the relay path's own cost.
import { parseArgs } from "node:util";
import { formatCpu, lines, runClients, spawnNode, stop } from "../support/process.ts";

const { values } = parseArgs({
  options: { users: { type: "string", default: "400" }, seconds: { type: "string", default: "10" }, "relay-interval": { type: "string", default: "100" } },
});
const USERS = Math.max(4, Math.min(Number(values.users), 4000));
const SECONDS = Math.max(1, Math.min(Number(values.seconds), 60));
const RELAY_INTERVAL = Math.max(20, Math.min(Number(values["relay-interval"]), 5000));
const RELAY_SECONDS = Math.max(1, Math.ceil(SECONDS / 2));
const PROCS = 2;
const here = (file: string) => new URL(file, import.meta.url).pathname;
const prof = process.env.BENCH_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROF}`] : [];

async function run(mode: "vchat" | "bare") {
  const server = spawnNode([...prof, here("./server.ts"), mode], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const { url } = JSON.parse(await lines(server, `${mode} server`)()) as { url: string };
    const result = await runClients({
      urls: [url],
      users: USERS,
      procs: PROCS,
      seconds: SECONDS,
      relaySeconds: RELAY_SECONDS,
      relayIntervalMs: RELAY_INTERVAL,
      flags: ["--exchange", ...(mode === "bare" ? ["--no-auth"] : [])],
      execArgv: prof,
      measure: { server: [server.pid] },
    });
    return { mode, ...result };
  } finally {
    await stop(server);
  }
}

const bare = await run("bare");
const vchat = await run("vchat");
const fmt = (n: number, d = 2) => n.toFixed(d);
console.log(
  `bench/signaling: ${USERS} users in ${PROCS} client processes; per target ${SECONDS} s of matching (offer, answer, 10 candidates per call), then ${RELAY_SECONDS} s of candidates every ${RELAY_INTERVAL} ms per call side (${Math.round((USERS * 1000) / RELAY_INTERVAL)}/s); server in its own process`,
);
console.log("target  matches/s  signals  relay p50 ms  relay p99 ms");
for (const r of [bare, vchat])
  console.log(
    `${r.mode.padEnd(7)} ${fmt(r.matchesPerSecond, 0).padStart(9)}  ${String(r.signals).padStart(7)}  ${fmt(r.p50).padStart(12)}  ${fmt(r.p99).padStart(12)}`,
  );
for (const r of [bare, vchat]) console.log(formatCpu(r.mode, r.cpu));
console.log(
  `ratio vchat/bare: matches/s ${fmt(vchat.matchesPerSecond / bare.matchesPerSecond)}x, relay p50 ${fmt(vchat.p50 / bare.p50)}x, relay p99 ${fmt(vchat.p99 / bare.p99)}x`,
);
console.log(
  `targets: >= 2000 matches/s ${vchat.matchesPerSecond >= 2000 ? "met" : "NOT met"}; relay p99 <= 1.5x bare ${vchat.p99 <= 1.5 * bare.p99 ? "met" : "NOT met"}`,
);
console.log(JSON.stringify({ bench: "signaling", users: USERS, procs: PROCS, seconds: SECONDS, relayIntervalMs: RELAY_INTERVAL, bare, vchat }));
