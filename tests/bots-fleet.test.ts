/**
 * `vchat bots` over worker processes, as its user runs it: the CLI in child processes against
 * `vchat dev --nodes 2` (two nodes on one Redis, started here; no TURN: the bots call each other
 * over loopback host candidates, which keeps the host's load down), the coordinator on a real
 * redis-server of its own. Bots match through the service's lobby, so the two bots of a call
 * often sit on different workers.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import type { FleetReport } from "../bots/fleet/merge.ts";
import { openRunKey, runKeys } from "../bots/fleet/wire.ts";
import type { BotsRunReport } from "../cli/commands/bots.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/cluster/redis-process.ts";
import { startDevServer, type DevServer } from "../server/dev.ts";

const cli = join(import.meta.dirname, "..", "cli", "vchat.ts");
type Report = BotsRunReport & FleetReport;

interface Child {
  proc: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

function vchat(args: string[], timeoutMs = 60_000): Child {
  const proc = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  proc.stdout.on("data", (d) => (stdout += d));
  proc.stderr.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
    proc.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { proc, done };
}

function report(out: { stdout: string; stderr: string }): Report {
  try {
    return JSON.parse(out.stdout) as Report;
  } catch {
    throw new Error(`no JSON report on stdout:\n${out.stdout.slice(0, 2000)}\nstderr:\n${out.stderr.slice(-3000)}`);
  }
}

async function until<T>(what: string, f: () => Promise<T | null | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The run open on the coordinator's Redis, and its barrier time once the coordinator started it. */
async function startedRun(redis: Redis): Promise<{ runId: number; t0: number; pids: number[] }> {
  const runId = await until("a run to open", async () => Number(await redis.get(openRunKey)) || null);
  const keys = runKeys(runId);
  const t0 = await until("the run's start", async () => {
    const entries = await redis.xrange(keys.ctl, "-", "+");
    const start = entries.map(([, f]) => JSON.parse(f[1]!) as { type?: string; t0?: number }).find((m) => m.type === "start");
    return start?.t0 ?? null;
  });
  const pids = (await redis.xrange(keys.up, "-", "+"))
    .map(([, f]) => JSON.parse(f[1]!) as { type?: string; pid?: number })
    .flatMap((m) => (m.type === "register" ? [m.pid!] : []));
  return { runId, t0, pids };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describeIf(redisInstalled(), "redis-server is not installed")("vchat bots --workers over Redis", () => {
  let dev: DevServer;
  let coordinator: RunningRedis;
  let redis: Redis;

  beforeAll(async () => {
    [dev, coordinator] = await Promise.all([startDevServer({ nodes: 2, port: 0, db: ":memory:", turn: false, quiet: true, webDir: null }), startRedis()]);
    redis = new Redis(coordinator.url);
  }, 60_000);

  afterAll(async () => {
    redis?.disconnect();
    await Promise.all([dev?.stop(), coordinator?.stop()]);
  });

  it("4 local workers make one report: calls spanning workers joined by session, every worker listed", async () => {
    const args = ["bots", "--url", dev.url, "--pairs", "4", "--ramp", "4", "--duration", "6s", "--workers", "4", "--local", "--allow-overload", "--json"];
    const out = await vchat(args).done;
    const r = report(out);
    expect(r.invalidReasons, out.stderr).toEqual([]);
    expect(out.code, out.stderr).toBe(0);
    expect(r.workers.map((w) => [w.name, w.state, w.bots]).sort()).toEqual([
      ["local-1", "done", 2],
      ["local-2", "done", 2],
      ["local-3", "done", 2],
      ["local-4", "done", 2],
    ]);
    for (const w of r.workers)
      expect(w).toMatchObject({ cores: expect.any(Number), cpuPct: expect.any(Number), hostCpuPct: expect.any(Number), loopLagP99Ms: expect.any(Number) });
    expect(r.workers.reduce((n, w) => n + w.legs, 0)).toBe(8);
    expect(r.summary).toMatchObject({ bots: 8, sessions: 4, connected: 4, legsCountedFromPartner: 8 });
    // Both legs of every call are in its record, each with the worker that measured it.
    for (const call of r.calls) expect(call.legs.map((l) => l.role).sort()).toEqual(["answerer", "offerer"]);
    const spanning = r.calls.filter((c) => new Set(c.legs.map((l) => l.worker)).size === 2);
    expect(spanning.length, JSON.stringify(r.calls.map((c) => c.legs.map((l) => `${l.bot}@${l.worker}`)))).toBeGreaterThan(0);
    // The distributions come from the merged histograms: one sample per leg.
    expect(r.summary.setupMs.count).toBe(8);
    expect(r.summary.rttMs.count).toBe(8);
    expect(r.summary.packetDelayMs.count).toBeGreaterThan(500);
    expect(r.run.options).toMatchObject({ fleet: { workers: 4, local: true, coordinator: null } });
  }, 90_000);
});
