// bench/signaling: matches/s and signal relay latency of `vchat dev`, against a bare Socket.IO
// relay as the floor, in the same run. Bounded: a fixed number of users for a fixed time.
//
//   node bench/signaling/run.ts [--users 400] [--seconds 10] [--procs 2]
//
// The server runs in its own process (server.ts), the users in `--procs` client processes
// (clients.ts), so that neither side is starved by the other on a 2-core machine.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { users: { type: "string", default: "400" }, seconds: { type: "string", default: "10" }, procs: { type: "string", default: "2" } } });
const USERS = Math.min(Number(values.users), 4000);
const SECONDS = Math.min(Number(values.seconds), 60);
const PROCS = Math.min(Math.max(1, Number(values.procs)), 8);
const here = (file: string) => new URL(file, import.meta.url).pathname;

function firstLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`${what} exited ${code}`)));
  });
}

async function run(mode: "vchat" | "bare") {
  const server = spawn(process.execPath, [...(process.env.BENCH_PROF ? ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] : []), here("./server.ts"), mode], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const { url } = JSON.parse(await firstLine(server, `${mode} server`)) as { url: string };
    // Everyone connects first; the clock starts at one moment for all processes.
    const startAt = Date.now() + 2000 + USERS * 4;
    const clients = Array.from({ length: PROCS }, (_, i) =>
      spawn(process.execPath, [...(process.env.BENCH_PROF ? ["--cpu-prof", "--cpu-prof-dir=/tmp/prof"] : []), here("./clients.ts"), "--url", url, "--users", String(Math.floor(USERS / PROCS) + (i < USERS % PROCS ? 1 : 0)), "--start", String(startAt), "--seconds", String(SECONDS), ...(mode === "vchat" ? ["--auth"] : [])], {
        stdio: ["ignore", "pipe", "inherit"],
      }),
    );
    const results = (await Promise.all(clients.map((c, i) => firstLine(c, `client ${i}`)))).map((l) => JSON.parse(l) as { matches: number; latencies: number[] });
    const matches = results.reduce((n, r) => n + r.matches, 0);
    const sorted = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
    const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
    return { mode, matchesPerSecond: matches / SECONDS, signals: sorted.length, p50: pct(50), p99: pct(99) };
  } finally {
    server.kill("SIGTERM");
    await new Promise((r) => server.once("exit", r));
  }
}

const bare = await run("bare");
const vchat = await run("vchat");
const fmt = (n: number, d = 2) => n.toFixed(d);
console.log(`bench/signaling: ${USERS} users in ${PROCS} client processes, ${SECONDS} s per target, server in its own process`);
console.log("target  matches/s  signals  relay p50 ms  relay p99 ms");
for (const r of [bare, vchat]) console.log(`${r.mode.padEnd(7)} ${fmt(r.matchesPerSecond, 0).padStart(9)}  ${String(r.signals).padStart(7)}  ${fmt(r.p50).padStart(12)}  ${fmt(r.p99).padStart(12)}`);
console.log(`ratio vchat/bare: matches/s ${fmt(vchat.matchesPerSecond / bare.matchesPerSecond)}x, relay p99 ${fmt(vchat.p99 / bare.p99)}x`);
console.log(`targets: >= 2000 matches/s ${vchat.matchesPerSecond >= 2000 ? "met" : "NOT met"}; relay p99 <= 1.5x bare ${vchat.p99 <= 1.5 * bare.p99 ? "met" : "NOT met"}`);
console.log(JSON.stringify({ bench: "signaling", users: USERS, procs: PROCS, seconds: SECONDS, bare, vchat }));
