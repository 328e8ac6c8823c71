// bench/soak: proves nothing leaks. Churning calls with chat (socket.io-client users, no media)
// against `vchat dev` and against 2 `vchat serve` nodes on a real redis-server, with a Redis
// restart and a node kill in the middle of the cluster run. Bounded in users and time.
//
//   node bench/soak/run.ts [--minutes 30] [--users 60] [--target both|dev|cluster]
//
// `--minutes` is per target. For each target it samples every server process (RSS and open file
// descriptors from /proc, event-loop lag p99/max from its /metrics since the previous sample),
// the sessions the store holds open and the users waiting in the queue:
//   idle   before the users come,
//   start  10 % in, under load,         middle  45 % in, before the faults (50 %, 60 %),
//   recovered  70 % in (cluster only),  end  at the end, under load,
//   after  once the users left and things settled (<= 15 s).
// RSS is also read every 2 s. Verdicts: RSS flat under steady load: in each steady window
// (start-middle and, on the cluster, recovered-end: a killed node's users move to the survivor, so
// the windows leave the faults out) the lowest RSS of its second half is within 25 % of the lowest
// of its first half, for every process alive over it (floors, because V8's heap grows in a
// sawtooth until a major GC; a short run sees few teeth, so trust the verdict of long runs);
// descriptors back to the idle level after the users left (+5); and nothing stuck: 0 open
// sessions and 0 waiting users after. Exits 1 when a verdict fails.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { redisInstalled, startRedis, type RunningRedis } from "../../server/cluster/redis-process.ts";
import { lines, spawnNode, stop } from "../support/process.ts";
import { startUsers, type UserStats } from "./users.ts";

const { values } = parseArgs({
  options: { minutes: { type: "string", default: "30" }, users: { type: "string", default: "60" }, target: { type: "string", default: "both" } },
});
const MINUTES = Math.max(0.5, Math.min(Number(values.minutes) || 30, 240));
const USERS = Math.max(2, Math.min(Number(values.users) || 60, 1000));
const TARGET = values.target as "both" | "dev" | "cluster";
if (!["both", "dev", "cluster"].includes(TARGET)) {
  console.error("--target is one of both, dev, cluster");
  process.exit(2);
}
const RUN_MS = MINUTES * 60_000;
const cli = new URL("../../cli/vchat.ts", import.meta.url).pathname;
const here = (file: string) => new URL(file, import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Proc {
  name: string;
  pid: number;
  /** Its /metrics, for Node processes of vchat. */
  url?: string;
}

interface ProcSample {
  name: string;
  pid: number;
  rssMb: number | null;
  /** V8 heap in use (not collected on demand: a rough second view next to RSS). */
  heapMb: number | null;
  fds: number | null;
  lagP99Ms: number | null;
  lagMaxMs: number | null;
}

interface Sample {
  phase: string;
  atSeconds: number;
  procs: ProcSample[];
  openSessions: number;
  waiting: number | null;
  usersConnected: number;
}

function rssMb(pid: number): number | null {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) / 1024 : null;
  } catch {
    return null;
  }
}

function fds(pid: number): number | null {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

async function metrics(url: string): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^(vchat_[a-z0-9_]+) ([0-9.e+-]+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  } catch {
    return {};
  }
}

function openSessions(db: string): number {
  const conn = new DatabaseSync(db, { readOnly: true });
  try {
    return Number((conn.prepare("SELECT count(*) AS n FROM sessions WHERE ended_at IS NULL").get() as { n: number }).n);
  } finally {
    conn.close();
  }
}

async function sample(phase: string, t0: number, procs: Proc[], db: string, usersConnected: number): Promise<Sample> {
  let waiting: number | null = null;
  const out: ProcSample[] = [];
  for (const p of procs) {
    const m = p.url ? await metrics(p.url) : {};
    if (m.vchat_queue_length !== undefined) waiting = m.vchat_queue_length;
    const ms = (s: number | undefined) => (s === undefined ? null : Math.round(s * 10_000) / 10);
    const heap = m.vchat_nodejs_heap_size_used_bytes;
    out.push({
      name: p.name,
      pid: p.pid,
      rssMb: rssMb(p.pid),
      heapMb: heap === undefined ? null : heap / 2 ** 20,
      fds: fds(p.pid),
      lagP99Ms: ms(m.vchat_nodejs_eventloop_lag_p99_seconds),
      lagMaxMs: ms(m.vchat_nodejs_eventloop_lag_max_seconds),
    });
  }
  return { phase, atSeconds: Math.round((Date.now() - t0) / 1000), procs: out, openSessions: openSessions(db), waiting, usersConnected };
}

/** Waits until `t0 + ms`. */
const at = (t0: number, ms: number) => sleep(Math.max(0, t0 + ms - Date.now()));

interface TargetRun {
  label: string;
  samples: Sample[];
  users: UserStats;
  faults: string[];
  /** Per process and steady window: lowest RSS of its second half / lowest of its first half. */
  growth: { name: string; window: string; ratio: number }[];
  verdicts: Record<string, boolean>;
}

/**
 * The users churn for RUN_MS against `urls()`; `faults` runs in the middle. Samples before,
 * during and after, then the verdicts.
 */
async function soak(label: string, procs: () => Proc[], urls: () => string[], db: string, faults?: (t0: number) => Promise<string[]>): Promise<TargetRun> {
  const t0 = Date.now();
  const samples: Sample[] = [];
  const log = (s: Sample) => {
    samples.push(s);
    console.error(`[${label}] ${s.phase} at ${s.atSeconds} s: sessions open ${s.openSessions}, waiting ${s.waiting}, users ${s.usersConnected}`);
  };
  // Metrics once, so the first lag figure covers the idle period only.
  for (const p of procs()) if (p.url) await metrics(p.url);
  await sleep(1000);
  log(await sample("idle", t0, procs(), db, 0));
  const rssSeries: { t: number; pid: number; rssMb: number }[] = [];
  const reader = setInterval(() => {
    for (const p of procs()) {
      const mb = rssMb(p.pid);
      if (mb !== null) rssSeries.push({ t: Date.now(), pid: p.pid, rssMb: mb });
    }
  }, 2000);
  const users = await startUsers(urls, USERS);
  const t1 = Date.now();
  await at(t1, RUN_MS * 0.1);
  log(await sample("start", t0, procs(), db, users.connected()));
  await at(t1, RUN_MS * 0.45);
  log(await sample("middle", t0, procs(), db, users.connected()));
  const done = faults ? await faults(t1) : [];
  if (faults) {
    await at(t1, RUN_MS * 0.7);
    log(await sample("recovered", t0, procs(), db, users.connected()));
  }
  await at(t1, RUN_MS);
  log(await sample("end", t0, procs(), db, users.connected()));
  await users.stop();
  clearInterval(reader);
  // Settle: the nodes end the calls of the users who left, empty the queue and close the
  // connections (HTTP keep-alive ones last, after ~5 s).
  const idle = samples[0]!;
  const settled = (s: Sample) =>
    s.openSessions === 0 &&
    (s.waiting ?? 0) === 0 &&
    s.procs.every((p) => {
      const i = idle.procs.find((q) => q.pid === p.pid);
      return !i || (p.fds ?? 0) <= (i.fds ?? 0) + 5;
    });
  const settleUntil = Date.now() + 15_000;
  let after = await sample("after", t0, procs(), db, 0);
  while (!settled(after) && Date.now() < settleUntil) {
    await sleep(1000);
    after = await sample("after", t0, procs(), db, 0);
  }
  log(after);

  const byPid = (s: Sample, pid: number) => s.procs.find((p) => p.pid === pid);
  const phase = (name: string) => samples.find((s) => s.phase === name);
  const windows: [string, string][] = faults
    ? [
        ["start", "middle"],
        ["recovered", "end"],
      ]
    : [["start", "end"]];
  const tOf = (name: string) => t0 + phase(name)!.atSeconds * 1000;
  const floor = (pid: number, from: number, to: number) => Math.min(...rssSeries.filter((r) => r.pid === pid && r.t >= from && r.t <= to).map((r) => r.rssMb));
  const growth = windows.flatMap(([from, to]) =>
    phase(from)!.procs.flatMap((p) => {
      if (!byPid(phase(to)!, p.pid)) return [];
      const [a, b] = [tOf(from), tOf(to)];
      const mid = (a + b) / 2;
      const [first, second] = [floor(p.pid, a, mid), floor(p.pid, mid, b)];
      return Number.isFinite(first) && Number.isFinite(second) ? [{ name: p.name, window: `${from}-${to}`, ratio: second / first }] : [];
    }),
  );
  const lived = idle.procs.filter((p) => byPid(after, p.pid));
  const verdicts = {
    rssFlat: growth.every((g) => g.ratio <= 1.25),
    fdsBackToIdle: lived.every((p) => (byPid(after, p.pid)!.fds ?? 0) <= (p.fds ?? 0) + 5),
    noOpenSessionsAfter: after.openSessions === 0,
    noWaitingAfter: (after.waiting ?? 0) === 0,
  };
  console.error(`[${label}] RSS floor growth: ${growth.map((g) => `${g.name} ${g.window} ${g.ratio.toFixed(2)}x`).join(", ")}`);
  return { label, samples, users: users.stats, faults: done, growth, verdicts };
}

async function devTarget(): Promise<TargetRun> {
  const dir = mkdtempSync(join(tmpdir(), "vchat-soak-dev-"));
  const db = join(dir, ".vchat", "vchat.db");
  const dev = spawnNode([cli, "dev", "--json", "--port", "0", "--no-turn", "--db", db], { cwd: dir, stdio: ["ignore", "pipe", "inherit"] });
  try {
    const url = (JSON.parse(await lines(dev, "vchat dev")()) as { url: string }).url.replace(/\/$/, "");
    return await soak(
      "vchat dev",
      () => [{ name: "dev", pid: dev.pid!, url }],
      () => [url],
      db,
    );
  } finally {
    await stop(dev);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function clusterTarget(): Promise<TargetRun> {
  const dir = mkdtempSync(join(tmpdir(), "vchat-soak-cluster-"));
  const db = join(dir, "vchat.db");
  const secret = randomBytes(32).toString("base64url");
  let redis: RunningRedis | null = null;
  const nodes: { proc: ChildProcess; url: string; port: number }[] = [];
  const startServe = async (port: number) => {
    const proc = spawnNode([here("./node.ts"), redis!.url, db, String(port)], {
      env: { ...process.env, VCHAT_JWT_SECRET: secret },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const url = (JSON.parse(await lines(proc, "vchat serve node")()) as { url: string }).url;
    return { proc, url, port: Number(new URL(url).port) };
  };
  try {
    redis = await startRedis();
    // The first node creates the database alone, then the second opens it.
    nodes.push(await startServe(0));
    nodes.push(await startServe(0));
    const procs = (): Proc[] => [...nodes.map((n, i) => ({ name: `node${i + 1}`, pid: n.proc.pid!, url: n.url })), { name: "redis", pid: redis!.pid()! }];
    return await soak(
      "2 vchat serve nodes on Redis",
      procs,
      () => nodes.map((n) => n.url),
      db,
      async (t1) => {
        const done: string[] = [];
        await at(t1, RUN_MS * 0.5);
        await redis!.restart();
        done.push(`redis restarted (empty) at ${Math.round((Date.now() - t1) / 1000)} s`);
        await at(t1, RUN_MS * 0.6);
        const killed = nodes[1]!;
        killed.proc.kill("SIGKILL");
        await new Promise((r) => killed.proc.once("exit", r));
        done.push(`node2 killed (SIGKILL) at ${Math.round((Date.now() - t1) / 1000)} s`);
        await sleep(3000);
        nodes[1] = await startServe(killed.port);
        done.push(`node2 started again at ${Math.round((Date.now() - t1) / 1000)} s`);
        return done;
      },
    );
  } finally {
    await Promise.all(nodes.map((n) => stop(n.proc)));
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(r: TargetRun): void {
  const f = (n: number | null, d = 1) => (n === null ? "-" : n.toFixed(d));
  console.log(`\n${r.label}: ${USERS} users, ${MINUTES} min of churn${r.faults.length ? `; ${r.faults.join(", ")}` : ""}`);
  console.log("phase      at s  process  RSS MB  heap MB  fds  lag p99 ms  lag max ms  open sessions  waiting  users");
  for (const s of r.samples) {
    for (const [i, p] of s.procs.entries()) {
      const shared = i === 0 ? `${String(s.openSessions).padStart(13)}  ${String(s.waiting ?? "-").padStart(7)}  ${String(s.usersConnected).padStart(5)}` : "";
      console.log(
        `${(i === 0 ? s.phase : "").padEnd(9)}  ${(i === 0 ? String(s.atSeconds) : "").padStart(4)}  ${p.name.padEnd(7)}  ${f(p.rssMb).padStart(6)}  ${f(p.heapMb).padStart(7)}  ${String(p.fds ?? "-").padStart(3)}  ${f(p.lagP99Ms).padStart(10)}  ${f(p.lagMaxMs).padStart(10)}  ${shared}`,
      );
    }
  }
  console.log(
    `RSS floor growth under steady load (2nd half / 1st half of each window): ${r.growth.map((g) => `${g.name} ${g.window} ${g.ratio.toFixed(2)}x`).join(", ") || "-"}`,
  );
  const u = r.users;
  console.log(
    `users: ${u.matches} calls, ${u.chatsSent} chat lines sent, ${u.chatsReceived} received, ${u.reconnects} reconnects, refusals ${JSON.stringify(u.errors)}`,
  );
  console.log(
    `verdicts: ${Object.entries(r.verdicts)
      .map(([k, v]) => `${k} ${v ? "yes" : "NO"}`)
      .join(", ")}`,
  );
}

const runs: TargetRun[] = [];
if (TARGET !== "cluster") runs.push(await devTarget());
if (TARGET !== "dev") {
  if (!redisInstalled()) console.error("bench/soak: redis-server is not installed (Debian package redis-server): the cluster target is skipped");
  else runs.push(await clusterTarget());
}
runs.forEach(report);
console.log(JSON.stringify({ bench: "soak", minutes: MINUTES, users: USERS, runs }));
process.exitCode = runs.every((r) => Object.values(r.verdicts).every(Boolean)) ? 0 : 1;
