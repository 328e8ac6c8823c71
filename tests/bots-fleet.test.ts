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
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import { alive } from "./support/process.ts";
import { rawBotsOptions } from "../cli/testing/bots-options.ts";
import type { FleetReport } from "../bots/fleet/merge.ts";
import { openRunKey, runKeys } from "../bots/fleet/wire.ts";
import { parseBotsOptions, type BotsRunReport } from "../cli/commands/bots.ts";
import { UsageError } from "../cli/exit.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/cluster/redis-process.ts";
import type { DevServer } from "../server/dev.ts";
import { testDev } from "./support/dev.ts";

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

describe("vchat bots --workers: bad input", () => {
  const raw = rawBotsOptions({ url: "http://127.0.0.1:9", duration: "5s" });

  it("needs worker processes and a Redis URL; --workers alone still counts threads", () => {
    expect(() => parseBotsOptions({ ...raw, local: true })).toThrow(/--coordinator and --local need --workers N/);
    expect(() => parseBotsOptions({ ...raw, workers: 0, local: true })).toThrow(UsageError);
    expect(() => parseBotsOptions({ ...raw, workers: 2, coordinator: "http://127.0.0.1:6379" })).toThrow(
      /--coordinator must be a redis:\/\/ or rediss:\/\/ URL/,
    );
    expect(() => parseBotsOptions({ ...raw, workers: 2, local: true, workerTimeout: "0s" })).toThrow(/--worker-timeout must be at least 1s/);
    expect(parseBotsOptions({ ...raw, workers: 3, coordinator: "rediss://:pw@127.0.0.1:6380" })).toMatchObject({
      workers: undefined,
      fleet: { workers: 3, coordinator: "rediss://:pw@127.0.0.1:6380", local: false, registerTimeoutMs: 60_000 },
    });
    expect(parseBotsOptions({ ...raw, workers: 2, local: true }).fleet).toMatchObject({ coordinator: null, local: true });
    expect(parseBotsOptions({ ...raw, workers: 3 })).toMatchObject({ workers: 3, fleet: null });
    process.env.VCHAT_BOTS_COORDINATOR = "redis://:pw@127.0.0.1:6381";
    try {
      expect(parseBotsOptions({ ...raw, workers: 2, coordinator: true }).fleet).toMatchObject({ coordinator: "redis://:pw@127.0.0.1:6381" });
    } finally {
      delete process.env.VCHAT_BOTS_COORDINATOR;
    }
    expect(() => parseBotsOptions({ ...raw, workers: 2, coordinator: true })).toThrow(/VCHAT_BOTS_COORDINATOR, which is not set/);
  });

  it("vchat bots worker names what is missing (exit 2) and a Redis it cannot reach (exit 1)", async () => {
    const env = { ...process.env, VCHAT_BOTS_COORDINATOR: "" };
    const none = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [cli, "bots", "worker", "--name", "x"], { stdio: ["ignore", "ignore", "pipe"], env });
      let stderr = "";
      p.stderr.on("data", (d) => (stderr += d));
      p.on("exit", (code) => resolve({ code, stderr }));
    });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/USAGE: --coordinator is required/);
    const refused = await vchat(["bots", "worker", "--coordinator", "redis://127.0.0.1:9", "--json"]).done;
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      ok: false,
      error: { code: "UNAVAILABLE", message: expect.stringMatching(/cannot reach the coordinator's Redis at redis:\/\/127\.0\.0\.1:9/) },
    });
  }, 30_000);
});

describeIf(redisInstalled(), "redis-server is not installed")("vchat bots --workers over Redis", () => {
  let dev: DevServer;
  let coordinator: RunningRedis;
  let redis: Redis;

  beforeAll(async () => {
    [dev, coordinator] = await Promise.all([testDev({ nodes: 2 }), startRedis()]);
    redis = new Redis(coordinator.url);
  }, 60_000);

  afterAll(async () => {
    redis?.disconnect();
    await Promise.all([dev?.stop(), coordinator?.stop()]);
  });

  /** `vchat bots` coordinating over this file's Redis against its dev server, with a JSON report. */
  const coordinate = (args: string[]) => vchat(["bots", "--url", dev.url, "--coordinator", coordinator.url, "--json", ...args]);

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
    expect(r.summary.oneWayDelayMs.count).toBe(8);
    expect(r.summary.packetDelayMs.count).toBeGreaterThan(500);
    expect(r.run.options).toMatchObject({ fleet: { workers: 4, local: true, coordinator: null } });
  }, 90_000);

  it("reaches a Redis that asks for a password as vchat serve does (in the URL), and never prints it", async () => {
    const locked = await startRedis({ password: "s3cret-pw" });
    try {
      const ok = await vchat(["bots", "worker", "--coordinator", locked.url, "--run", "5", "--json"]).done;
      expect(ok.code).toBe(1);
      expect(JSON.parse(ok.stdout)).toMatchObject({
        ok: false,
        error: { code: "RUN_NOT_FOUND", message: "no run 5 on this Redis: it ended, expired, or never began" },
      });
      const wrong = await vchat(["bots", "worker", "--coordinator", locked.url.replace("s3cret-pw", "nope-pw"), "--run", "5", "--json"]).done;
      expect(wrong.code).toBe(1);
      expect(JSON.parse(wrong.stdout)).toMatchObject({
        ok: false,
        error: { code: "UNAVAILABLE", message: expect.stringMatching(/redis:\/\/\[redacted\]@127\.0\.0\.1/) },
      });
      expect(wrong.stdout + wrong.stderr).not.toMatch(/nope-pw|s3cret-pw/);
    } finally {
      await locked.stop();
    }
  }, 30_000);

  it("a worker on a wrong run id never joins; a missing worker times out, naming who came", async () => {
    const coord = coordinate(["--pairs", "1", "--duration", "3s", "--workers", "2", "--worker-timeout", "8s"]);
    const runId = await until("a run to open", async () => Number(await redis.get(openRunKey)) || null);
    const stray = await vchat(["bots", "worker", "--coordinator", coordinator.url, "--run", String(runId === 1 ? 2 : runId - 1), "--name", "stray", "--json"])
      .done;
    expect(stray.code, stray.stderr).toBe(1);
    expect(JSON.parse(stray.stdout)).toMatchObject({
      ok: false,
      error: { code: "RUN_NOT_FOUND", message: expect.stringMatching(/^no run \d+ on this Redis/) },
    });
    // One worker of the two comes, through the open run.
    const w1 = vchat(["bots", "worker", "--coordinator", coordinator.url, "--name", "w1", "--json"]);
    const out = await coord.done;
    expect(out.code, out.stderr).toBe(1);
    expect(JSON.parse(out.stdout)).toMatchObject({
      ok: false,
      error: { code: "WORKERS_MISSING", message: expect.stringMatching(/^only 1 of 2 workers registered within 8 s \(w1\)/) },
    });
    // The coordinator gave up: the worker that came is told, and leaves.
    const w = await w1.done;
    expect(w.code, w.stderr).toBe(0);
    expect(JSON.parse(w.stdout)).toMatchObject({ ok: true, name: "w1", runId, end: "stopped", bots: 0 });
    expect(await redis.ttl(runKeys(runId).plan)).toBeLessThanOrEqual(60);
  }, 60_000);

  it("a worker SIGKILLed mid-run is found lost within seconds, its partners end cleanly, the run is invalid and keeps the others' figures", async () => {
    const coord = coordinate(["--pairs", "2", "--ramp", "4", "--duration", "14s", "--workers", "2", "--allow-overload"]);
    const a = vchat(["bots", "worker", "--coordinator", coordinator.url, "--name", "a"]);
    const b = vchat(["bots", "worker", "--coordinator", coordinator.url, "--name", "b"]);
    const { t0 } = await startedRun(redis);
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 5000 - Date.now())));
    b.proc.kill("SIGKILL");
    const killedAtS = (Date.now() - t0) / 1000;
    const out = await coord.done;
    const r = report(out);
    expect(out.code, out.stderr).toBe(1);
    expect(r.valid).toBe(false);
    const lost = r.workers.find((w) => w.name === "b")!;
    expect(lost.state).toBe("lost");
    expect(r.invalidReasons.join("\n")).toMatch(/worker b vanished: found lost [\d.]+ s into the run/);
    expect(r.invalidReason).toMatch(/^invalid run: .*worker b vanished/);
    // Found lost within a few seconds of the kill (beats come every second; 4 s of silence is lost).
    const lostAtS = Number(/found lost ([\d.]+) s/.exec(r.invalidReasons.join(" "))![1]);
    expect(lostAtS - killedAtS).toBeLessThan(7);
    // Worker a finished and its figures are in the report.
    const kept = r.workers.find((w) => w.name === "a")!;
    expect(kept).toMatchObject({ state: "done", bots: 2 });
    expect(kept.legs).toBeGreaterThan(0);
    expect(r.summary.setupMs.count).toBeGreaterThanOrEqual(kept.legs);
    // a's bots whose partner sat on b: their call ended by the service (the partner left), not by a hang or the run's end.
    const orphans = r.calls.filter((c) => c.legs.length === 1 && c.legs[0]!.worker === "a").map((c) => c.legs[0]!);
    expect(orphans.length, JSON.stringify(r.calls.map((c) => c.legs.map((l) => `${l.bot}@${l.worker}:${l.end}`)))).toBeGreaterThan(0);
    for (const leg of orphans) expect(leg.end).toMatch(/^peer-/);
    expect((await a.done).code).toBe(0);
  }, 60_000);

  it("Ctrl-C on the coordinator stops every worker and writes the partial report (exit 130)", async () => {
    const coord = coordinate(["--pairs", "2", "--ramp", "4", "--duration", "60s", "--workers", "2", "--local", "--allow-overload"]);
    const { t0, pids } = await startedRun(redis);
    expect(pids).toHaveLength(2);
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 5000 - Date.now())));
    coord.proc.kill("SIGINT");
    const out = await coord.done;
    const r = report(out);
    expect(out.code, out.stderr).toBe(130);
    expect(r.run.interrupted).toBe(true);
    expect(r.pass).toBe(false);
    // Every worker stopped on the coordinator's word and sent its figures.
    expect(r.workers.map((w) => w.state)).toEqual(["done", "done"]);
    expect(r.summary.sessions).toBe(2);
    expect(r.summary.durationS).toBeLessThan(30);
    await until("the local workers to exit", async () => (pids.some(alive) ? null : true), 10_000);
  }, 60_000);
});
