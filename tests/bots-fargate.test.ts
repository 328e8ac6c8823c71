/**
 * `vchat bots --fleet` end to end, with the cloud replaced by this machine: the engine's `up`
 * starts a redis-server and W processes running exactly the worker command line of the
 * fleet's task definition (`workerCommand`, the URL in `coordinatorVariable`), its `destroy`
 * stops them. Everything else is real: the lifecycle, the coordinator of `--workers
 * --coordinator`, the bots calling each other through `vchat dev` (no TURN: loopback host
 * candidates keep the load down), the merged report.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { rawBotsOptions } from "../cli/testing/bots-options.ts";
import { describeIf } from "./support/skip.ts";
import type { FleetReport } from "../bots/fleet/merge.ts";
import { bots, parseBotsOptions, type BotsRunReport } from "../cli/commands/bots.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/cluster/redis-process.ts";
import type { DevServer } from "../server/dev.ts";
import type { ActionOptions } from "../stacks/engine.ts";
import type { FleetEngine, FleetUp } from "../stacks/fleet-engine.ts";
import type { FleetSize } from "../stacks/fleet-size.ts";
import { coordinatorVariable, workerCommand } from "../stacks/fleet.ts";
import { testDev } from "./support/dev.ts";

const cli = join(import.meta.dirname, "..", "cli", "vchat.ts");

/** A "fleet" of worker processes on this machine, started the way the task definition starts them. */
class LocalFleet implements FleetEngine {
  calls: string[] = [];
  workers: ChildProcess[] = [];
  stderr = "";
  private redis: RunningRedis | undefined;

  async up(stack: string, size: FleetSize, _o?: ActionOptions): Promise<FleetUp> {
    this.calls.push(`up ${stack} ${size.workers}`);
    this.redis = await startRedis();
    for (let i = 0; i < size.workers; i++) {
      const proc = spawn(process.execPath, [cli, ...workerCommand], {
        stdio: ["ignore", "ignore", "pipe"],
        env: { ...process.env, [coordinatorVariable]: this.redis.url },
      });
      proc.stderr.on("data", (d) => (this.stderr += d));
      this.workers.push(proc);
    }
    return { changes: { create: 1 + size.workers }, outputs: {}, coordinatorUrl: this.redis.url };
  }

  async destroy(stack: string): Promise<{ changes: Record<string, number> }> {
    this.calls.push(`destroy ${stack}`);
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.exitCode !== null || w.signalCode !== null) return resolve();
            w.once("exit", () => resolve());
            w.kill("SIGTERM");
          }),
      ),
    );
    await this.redis?.stop();
    return { changes: { delete: 1 + this.workers.length } };
  }
}

describeIf(redisInstalled(), "redis-server is not installed")("vchat bots --fleet, the cloud replaced by local processes", () => {
  let dev: DevServer;

  beforeAll(async () => {
    dev = await testDev();
  }, 60_000);

  afterAll(async () => {
    await dev?.stop();
  });

  it("brings 2 workers up, the coordinator runs the plan on them, one report, then the fleet goes down", async () => {
    const engine = new LocalFleet();
    let out = "";
    let err = "";
    const stdout = new PassThrough();
    stdout.on("data", (d) => (out += d));
    const stderr = new PassThrough();
    stderr.on("data", (d) => (err += d));
    const opts = parseBotsOptions(
      rawBotsOptions({ url: dev.url, pairs: 2, duration: "5s", ramp: "4", allowOverload: true, json: true, fleet: 2, stack: "local" }),
    );
    const probe = {
      home: "/nonexistent",
      env: { AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "x", PULUMI_BACKEND_URL: "file:///nonexistent", PULUMI_CONFIG_PASSPHRASE: "" },
      which: () => "/usr/local/bin/pulumi",
      exists: () => false,
    };
    const code = await bots(
      opts,
      { stdout: stdout as unknown as NodeJS.WriteStream, stderr: stderr as unknown as NodeJS.WriteStream },
      {
        engine: () => engine,
        probe: () => probe,
        interrupt: () => ({ signal: new AbortController().signal, exitCode: () => undefined, dispose() {} }),
      },
    );
    const report = JSON.parse(out) as BotsRunReport & FleetReport;
    expect(report.invalidReasons, `${err}\n${engine.stderr}`).toEqual([]);
    expect(code, err).toBe(0);
    expect(engine.calls).toEqual(["up local 2", "destroy local"]);
    expect(report.workers.map((w) => w.state)).toEqual(["done", "done"]);
    expect(report.workers.reduce((n, w) => n + w.bots, 0)).toBe(4);
    expect(report.summary).toMatchObject({ bots: 4, sessions: 2, connected: 2 });
    expect(report.run.options).toMatchObject({ fargate: { workers: 2, stack: "local", keep: false }, fleet: { workers: 2, local: false } });
    expect(err).toMatch(/fleet local: 2 workers running; coordinating the run/);
    for (const w of engine.workers) expect(w.exitCode !== null || w.signalCode !== null).toBe(true);
  }, 120_000);
});
