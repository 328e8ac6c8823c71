/**
 * `vchat bots` as its user runs it: the CLI in a child process against `startDevServer` with
 * its real coturn. Bots run in worker threads there, as in production use.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import { rawBotsOptions } from "../cli/testing/bots-options.ts";
import { isUnfinished, type BotsReport } from "../bots/report.ts";
import { bots, parseBotsOptions, type BotsRunReport } from "../cli/commands/bots.ts";
import { CliError, UsageError } from "../cli/exit.ts";
import type { DevServer } from "../server/dev.ts";
import { coturnInstalled, startCoturn, type RunningCoturn } from "../turn/coturn-process.ts";
import { lossWindowPp } from "./support/binomial.ts";
import { api } from "./support/client.ts";
import { testDev } from "./support/dev.ts";

const hasCoturn = coturnInstalled();

const cli = join(import.meta.dirname, "..", "cli", "vchat.ts");

function runCli(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("vchat bots: bad input", () => {
  // In-process: these need no server, and a CLI start costs seconds on a busy host.
  const raw = rawBotsOptions({ url: "http://127.0.0.1:9", duration: "1s" });

  it("rejects bad options with a usage error (exit 2)", () => {
    expect(() => parseBotsOptions({ ...raw, relay: "maybe" })).toThrow(UsageError);
    expect(() => parseBotsOptions({ ...raw, relay: "maybe" })).toThrow(/--relay must be one of auto, only, never/);
    expect(() => parseBotsOptions({ ...raw, impairLoss: "5" })).toThrow(/--relay only/);
    expect(() => parseBotsOptions({ ...raw, relay: "only", impairLoss: "5", turnTransport: "tls" })).toThrow(/TLS/);
    expect(() => parseBotsOptions({ ...raw, pairs: 2, peers: 1 })).toThrow(/not both/);
    expect(() => parseBotsOptions({ ...raw, url: "ftp://x" })).toThrow(/http/);
    expect(() => parseBotsOptions({ ...raw, turnRewrite: ["nonsense"] })).toThrow(/--turn-rewrite/);
    expect(() => parseBotsOptions({ ...raw, impairCorrupt: "3" })).toThrow(/--relay only/);
    expect(() => parseBotsOptions({ ...raw, relay: "only", impairReplay: "3", turnTransport: "tls" })).toThrow(/TLS/);
    expect(() => parseBotsOptions({ ...raw, minMos: "5" })).toThrow(/--min-mos must be a number from 1 to 4.5/);
    expect(parseBotsOptions({ ...raw, relay: "only", impairCorrupt: "3", impairReplay: "2", minMos: "3.5", allowOverload: true })).toMatchObject({
      impairCorruptPct: 3,
      impairReplayPct: 2,
      allowOverload: true,
      thresholds: { minMos: 3.5 },
    });
    expect(parseBotsOptions({ ...raw, churn: "30s", interests: "music, chess" })).toMatchObject({ pairs: 10, churnMs: 30_000, interests: ["music", "chess"] });
    expect(() => parseBotsOptions({ ...raw, runId: "1.5" })).toThrow(/--run-id must be a whole number/);
    expect(() => parseBotsOptions({ ...raw, runId: "0" })).toThrow(/--run-id/);
    expect(parseBotsOptions({ ...raw, runId: "4294967295" }).runId).toBe(4294967295);
  });

  it("exits 1 naming the server when it cannot be reached", async () => {
    let err = "";
    const io = { stdout: process.stdout, stderr: { write: (t: string) => ((err += t), true) } as unknown as NodeJS.WriteStream };
    const failure = await bots(parseBotsOptions(raw), io).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CliError);
    expect(failure).toMatchObject({ code: "UNAVAILABLE", exitCode: 1, message: expect.stringMatching(/cannot use http:\/\/127\.0\.0\.1:9/) });
    // The start line says what was about to run, default pairs included.
    expect(err).toMatch(/vchat bots: 10 pairs \(20 bots\) against http:\/\/127\.0\.0\.1:9 for 1s/);
  });

  it("nonsense durations are usage errors up front", () => {
    expect(() => parseBotsOptions({ ...raw, duration: "0" })).toThrow(/--duration must be at least 1s, got "0"/);
    expect(() => parseBotsOptions({ ...raw, connectTimeout: "0s" })).toThrow(/--connect-timeout must be at least 1s/);
    expect(() => parseBotsOptions({ ...raw, url: undefined })).toThrow(/--url is required/);
  });
});

describeIf(hasCoturn, "turnserver (coturn) is not installed")("vchat bots against vchat dev with a real coturn", () => {
  let dev: DevServer;
  let dir: string;
  beforeAll(async () => {
    dev = await testDev({ turn: true });
    dir = mkdtempSync(join(tmpdir(), "vchat-bots-"));
  });
  afterAll(async () => {
    await dev?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function runBots(name: string, args: string[]): Promise<{ code: number | null; report: BotsReport; stdout: string; stderr: string }> {
    const file = join(dir, `${name}.json`);
    // These runs check the calls, not the bot host: on a loaded CI host (load 15 on 2 cores was
    // seen) the host's own verdict would make them invalid. calibration.test.ts checks that verdict.
    const r = await runCli(["bots", "--url", dev.url, "--json", file, "--ramp", "40", "--allow-overload", ...args]);
    if (r.code !== 0 && r.code !== 1) throw new Error(`vchat bots exited ${r.code}: ${r.stderr}`);
    return { ...r, report: JSON.parse(readFileSync(file, "utf8")) as BotsReport };
  }

  /** The server's count of requests refused as NOT_IN_SESSION. */
  const notInSession = async () => Number(/^vchat_errors_total\{code="NOT_IN_SESSION"\} (\S+)$/m.exec((await api<string>(dev.url, "/metrics")).body)?.[1] ?? 0);

  for (const transport of ["udp", "tcp"] as const) {
    it(`10 pairs relay-only over TURN/${transport}: every call connects on relay candidates, loss 0`, async () => {
      const refusedBefore = await notInSession();
      const { code, report, stdout } = await runBots(`relay-${transport}`, [
        "--pairs",
        "10",
        "--duration",
        "12s",
        "--relay",
        "only",
        "--turn-transport",
        transport,
        "--max-loss",
        "0",
        "--min-connected",
        "100",
      ]);
      const s = report.summary;
      console.log(
        `${transport}: ${s.connected}/${s.requested} connected (${s.unfinished} unfinished), loss ${s.lossPct} %, setup p50/p95 ${s.setupMs.p50}/${s.setupMs.p95} ms, RTCP RTT p50 ${s.rtcpRttMs.p50} ms, bot host CPU ${report.host.cpuPct} %, lag max ${report.host.lagMaxMs} ms, stalled ${report.host.stalledPct} %`,
      );
      if (s.connected < 10) console.log("failures:", s.failures, report.errors);
      expect(code).toBe(0);
      expect(s.requested).toBe(10);
      expect(s.connected).toBe(10);
      expect(s.candidatePairs).toEqual({ "relay/relay": 20 });
      expect(s.transports).toEqual({ [transport]: 20 });
      expect(s.lossPct).toBe(0);
      for (const call of report.calls) {
        expect(call.legs).toHaveLength(2);
        // Media flowed in both directions (80 packets/s per bot; start-up eats part of the run on a busy host).
        for (const l of call.legs) expect(l.packetsExpected).toBeGreaterThan(40);
      }
      expect(stdout).toMatch(/result: pass/);
      // The server stored what the bots sent as call:stats.
      const stored = await dev.store.getSession(report.calls[0]!.sessionId);
      expect(stored).toBeTruthy();
      // Both bots of a call end it at the run's end; the second is not refused.
      expect(await notInSession()).toBe(refusedBefore);
    }, 60_000);
  }

  it("SIGINT stops the run cleanly, reports what was measured so far, and exits 130", async () => {
    const file = join(dir, "sigint.json");
    const child = spawn(
      process.execPath,
      [cli, "bots", "--url", dev.url, "--pairs", "2", "--duration", "5m", "--relay", "only", "--allow-overload", "--json", file],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    // The first progress line with both calls up: then interrupt.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no calls up in time: ${stderr}`)), 40_000);
      child.stderr.on("data", (d) => {
        stderr += d;
        if (/calls up 2 /.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const interruptedAt = Date.now();
    child.kill("SIGINT");
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    expect(Date.now() - interruptedAt).toBeLessThan(15_000);
    expect(code).toBe(130);
    expect(stdout).toMatch(/interrupted: the report covers what was measured so far/);
    const report = JSON.parse(readFileSync(file, "utf8")) as BotsRunReport;
    expect(report.run).toMatchObject({ command: "bots", url: dev.url, interrupted: true, options: { pairs: 2, relay: "only", durationMs: 300_000 } });
    // Its figures so far meet the thresholds, yet a run cut short passes nothing.
    expect([report.valid, report.thresholds.every((t) => t.ok), report.pass]).toEqual([true, true, false]);
    expect(Date.parse(report.run.endedAt)).toBeGreaterThan(Date.parse(report.run.startedAt));
    expect(report.summary.connected).toBe(2);
    expect(report.summary.packetsExpected).toBeGreaterThan(0);
    expect(report.calls.flatMap((c) => c.legs).every((l) => l.end === "run-end" || l.end === "peer-ended")).toBe(true);
  }, 60_000);

  it("a wrong TURN secret fails every relay-only call, names the reason, and exits 1", async () => {
    const other: RunningCoturn = await startCoturn({ mode: "local", secret: "a-different-secret-than-the-servers" });
    try {
      const udp = dev.turn!.urls.find((u) => u.includes("transport=udp"))!;
      const from = /^turn:([^?]+)/.exec(udp)![1]!;
      const { code, report, stdout } = await runBots("wrong-secret", [
        "--pairs",
        "3",
        "--duration",
        "9s",
        "--relay",
        "only",
        "--turn-rewrite",
        `udp/${from}=127.0.0.1:${other.port}`,
      ]);
      expect(code).toBe(1);
      const s = report.summary;
      console.log("wrong secret:", s.failures, `${s.unfinished} unfinished`);
      expect(s.connected).toBe(0);
      expect(s.sessions).toBeGreaterThanOrEqual(3);
      // Every call that had time to fail names the cause; calls begun just before the end are unfinished.
      const ended = report.calls.filter((c) => !isUnfinished(c));
      expect(ended.length).toBe(s.sessions);
      for (const call of ended) expect(call.failure).toMatch(/401 Unauthorized: TURN credentials rejected/);
      expect(Object.keys(s.failures).join()).toMatch(/401 Unauthorized/);
      expect(stdout).toMatch(/FAIL {2}minConnectedPct/);
    } finally {
      await other.stop();
    }
  }, 60_000);

  it("calibration: --impair-loss 5 reports loss within its binomial window of 5 %; --impair-corrupt/--impair-replay are counted apart", async () => {
    const { report } = await runBots("impair-loss", [
      "--pairs",
      "5",
      "--duration",
      "16s",
      "--relay",
      "only",
      "--impair-loss",
      "5",
      "--impair-corrupt",
      "2",
      "--impair-replay",
      "2",
    ]);
    const s = report.summary;
    const window = lossWindowPp(5, s.packetsExpected);
    const media = report.calls.flatMap((c) => c.legs.map((l) => l.mediaSeconds ?? 0));
    console.log(
      `calibration (CLI): --impair-loss 5 → ${s.lossPct} % of ${s.packetsExpected} packets (window ±${window.toFixed(2)} pp; media ${Math.min(...media)}-${Math.max(...media)} s a leg, setup p95 ${s.setupMs?.p95} ms, bot host stalled ${report.host.stalledPct} %); ${s.corrupt} corrupt, ${s.replayed} replayed, ${s.duplicates} duplicates`,
    );
    expect(s.connected).toBe(5);
    expect(s.legsCountedFromPartner).toBe(10);
    // The window of bots/calibration.test.ts: 4-6 % from 4,750 packets on (a quiet host counts
    // ~11,900 here), wider below at the same odds of a false failure. Loaded CI hosts counted
    // 2,300-3,400, why not recorded then: the line above now prints media time, setup and stalls.
    expect(s.packetsExpected).toBeGreaterThan(1000);
    expect(Math.abs(s.lossPct! - 5)).toBeLessThanOrEqual(window);
    // ~2 % of the 95 % that got through, each way.
    for (const n of [s.corrupt, s.replayed]) expect(n / s.packetsExpected).toBeGreaterThan(0.01);
    expect(s.duplicates).toBe(0);
  }, 60_000);

  it("--churn: calls hang up and re-match without errors, every leg counted whole from its partner", async () => {
    const { code, report } = await runBots("churn", ["--pairs", "2", "--duration", "12s", "--relay", "only", "--churn", "3s"]);
    const s = report.summary;
    const legs = report.calls.flatMap((c) => c.legs).filter((l) => l.connected);
    console.log(
      `churn (CLI): ${s.connected} calls, ${legs.length} legs, loss ${s.lossPct} %, errors ${report.errors.count} ${report.errors.sample.join("; ")}`,
    );
    expect(code).toBe(0);
    expect(s.connected).toBeGreaterThanOrEqual(4);
    // Both bots of a call sent call:next at once before: one of them got "you are not in this call".
    expect(report.errors.count).toBe(0);
    expect(s.mediaStopped).toBe(0);
    for (const l of legs) expect(l.expectedFrom).toBe("partner");
    expect(s.lossPct).toBe(0);
  }, 60_000);

  it("a direction cut mid-call fails its call as media-stopped and exits 1", async () => {
    const { code, report, stdout } = await runBots("cut", ["--pairs", "2", "--duration", "10s", "--relay", "only", "--impair-cut", "3s"]);
    const s = report.summary;
    const dead = report.calls.flatMap((c) => c.legs).find((l) => l.failure !== null);
    console.log(`cut (CLI): ${s.connected}/${s.requested} connected, ${s.mediaStopped} media-stopped: ${dead?.failure}; that leg lost ${dead?.lossPct} %`);
    expect(code).toBe(1);
    expect(s).toMatchObject({ requested: 2, connected: 1, failed: 1, mediaStopped: 1 });
    expect(Object.keys(s.failures)[0]).toMatch(/^media-stopped: no media from the partner/);
    expect(dead!.lossPct!).toBeGreaterThan(30);
    expect(stdout).toMatch(/1 failed \(1 media-stopped\)/);
  }, 60_000);
});
