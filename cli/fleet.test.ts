/**
 * The fleet's lifecycle (`vchat bots --fleet`) against a fake engine and a fake coordinator: a
 * real fleet needs the Pulumi CLI and an AWS account, which these machines do not have.
 */
import { describe, expect, it } from "vitest";
import { rawBotsOptions } from "./testing/bots-options.ts";
import { StackError, type ActionOptions, type PrerequisiteProbe } from "../stacks/engine.ts";
import type { FleetEngine, FleetUp } from "../stacks/fleet-engine.ts";
import { fleetSize, type FleetSize } from "../stacks/fleet-size.ts";
import { coordinatorVariable } from "../stacks/fleet.ts";
import { parseBotsOptions } from "./commands/bots.ts";
import { coordinatorEnv } from "./commands/bots-fleet.ts";
import { CliError, UsageError } from "./exit.ts";
import { botsFleet, runFleet, type CoordinatorRun, type FleetDeps } from "./fleet.ts";

const size: FleetSize = fleetSize({ calls: 100, workers: 4, media: "synthetic" });
const coordinatorUrl = "rediss://:pw@master.fleet.cache.amazonaws.com:6379";

/** Records every call in one timeline with the coordinator's, so the order is checked. */
class FakeFleet implements FleetEngine {
  readonly timeline: string[];
  private o: { failUp?: Error; upWaitsForAbort?: boolean; failDestroy?: Error };
  constructor(timeline: string[], o: { failUp?: Error; upWaitsForAbort?: boolean; failDestroy?: Error } = {}) {
    this.timeline = timeline;
    this.o = o;
  }
  async up(stack: string, s: FleetSize, opts?: ActionOptions): Promise<FleetUp> {
    this.timeline.push(`up ${stack} ${s.workers}x${s.cpu}`);
    opts?.onEvent?.({ kind: "resource-done", urn: `urn:pulumi:${stack}::vchat-fleet::aws:ecs/service:Service::svc`, op: "create", at: 1 });
    if (this.o.failUp) throw this.o.failUp;
    if (this.o.upWaitsForAbort) {
      await new Promise<void>((resolve) => opts?.signal?.addEventListener("abort", () => resolve(), { once: true }));
      throw new StackError("CANCELLED", `fleet up of ${stack} cancelled`, 130);
    }
    return { changes: { create: 16 }, outputs: { coordinatorUrl: { value: "[secret]", secret: true } }, coordinatorUrl };
  }
  async destroy(stack: string, opts?: ActionOptions) {
    this.timeline.push(`destroy ${stack}${opts?.signal?.aborted ? " (aborted signal)" : ""}`);
    if (this.o.failDestroy) throw this.o.failDestroy;
    return { changes: { delete: 16 } };
  }
}

function lifecycle(o: { engine?: FakeFleet; keep?: boolean; coordinator?: CoordinatorRun; signal?: AbortSignal } = {}) {
  const timeline = o.engine?.timeline ?? [];
  const log: string[] = [];
  const engine = o.engine ?? new FakeFleet(timeline);
  const coordinator: CoordinatorRun =
    o.coordinator ??
    (async (a) => {
      timeline.push(`coordinate ${a.workers} via ${a.coordinatorUrl}`);
      return 0;
    });
  const signal = o.signal ?? new AbortController().signal;
  const stop = { signal, exitCode: () => (signal.aborted ? 130 : undefined), dispose() {} };
  const run = runFleet({
    engine,
    stack: "eu",
    size,
    keep: o.keep ?? false,
    stop,
    coordinator,
    log: (l) => log.push(l),
  });
  return { run, timeline, log };
}

describe("runFleet: up, run, down", () => {
  it("brings the fleet up, runs the coordinator on its Redis with W workers, tears it down, returns the run's exit code", async () => {
    const { run, timeline, log } = lifecycle({ coordinator: async (a) => (timeline.push(`coordinate ${a.workers} via ${a.coordinatorUrl}`), 1) });
    const result = await run;
    expect(timeline).toEqual([`up eu 4x${size.cpu}`, `coordinate 4 via ${coordinatorUrl}`, "destroy eu"]);
    expect(result).toEqual({ exitCode: 1, teardown: { kept: false, result: { changes: { delete: 16 } } } });
    expect(log).toContain("ok   create svc");
  });

  it("--keep leaves the fleet up and says how to remove it", async () => {
    const { run, timeline, log } = lifecycle({ keep: true });
    expect(await run).toEqual({ exitCode: 0, teardown: { kept: true } });
    expect(timeline).toEqual([`up eu 4x${size.cpu}`, `coordinate 4 via ${coordinatorUrl}`]);
    expect(log.at(-1)).toBe("fleet eu kept (--keep): remove it with pulumi -C stacks/fleet destroy --stack eu");
  });

  it("a coordinator that fails mid-run still tears the fleet down, then the failure surfaces", async () => {
    const boom = new Error("coordinator lost its Redis");
    const { run, timeline } = lifecycle({
      coordinator: async () => {
        timeline.push("coordinate");
        throw boom;
      },
    });
    await expect(run).rejects.toBe(boom);
    expect(timeline).toEqual([`up eu 4x${size.cpu}`, "coordinate", "destroy eu"]);
  });

  it("an `up` that fails halfway tears down what it made", async () => {
    const timeline: string[] = [];
    const failure = new StackError("OPERATION_FAILED", "up of eu failed:\n  ECS service did not stabilize", 1);
    const { run } = lifecycle({ engine: new FakeFleet(timeline, { failUp: failure }) });
    await expect(run).rejects.toBe(failure);
    expect(timeline).toEqual([`up eu 4x${size.cpu}`, "destroy eu"]);
  });

  it("Ctrl-C during the run stops the coordinator and still tears down, on a signal of its own", async () => {
    const ctl = new AbortController();
    const timeline: string[] = [];
    const { run } = lifecycle({
      engine: new FakeFleet(timeline),
      signal: ctl.signal,
      coordinator: async (a) => {
        timeline.push("coordinate");
        setTimeout(() => ctl.abort("SIGINT"), 10);
        await new Promise((resolve) => a.stop.signal.addEventListener("abort", resolve, { once: true }));
        timeline.push("coordinator stopped, partial report written");
        return 130;
      },
    });
    expect((await run).exitCode).toBe(130);
    expect(timeline).toEqual([`up eu 4x${size.cpu}`, "coordinate", "coordinator stopped, partial report written", "destroy eu"]);
  });
});

function probe(o: { pulumi?: boolean } = {}): PrerequisiteProbe {
  return {
    home: "/home/nobody",
    // No Atlas keys: a fleet needs none.
    env: { AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "x", PULUMI_BACKEND_URL: "file:///tmp/state", PULUMI_CONFIG_PASSPHRASE: "" },
    which: (name) => (o.pulumi !== false && name === "pulumi" ? "/usr/local/bin/pulumi" : undefined),
    exists: () => false,
  };
}

function cli(o: { engine?: FakeFleet; probe?: PrerequisiteProbe; ctl?: AbortController } = {}) {
  const timeline = o.engine?.timeline ?? [];
  const engine = o.engine ?? new FakeFleet(timeline);
  let engines = 0;
  let err = "";
  const ctl = o.ctl ?? new AbortController();
  const deps: FleetDeps = {
    engine: () => (engines++, engine),
    probe: () => o.probe ?? probe(),
    interrupt: () => ({ signal: ctl.signal, exitCode: () => (ctl.signal.aborted ? 130 : undefined), dispose() {} }),
  };
  const run = botsFleet(
    { stack: "eu", keep: false, size, coordinator: async () => (timeline.push("coordinate"), 0) },
    { stderr: { write: (s: string) => (err += s) } },
    deps,
  );
  return { run, timeline, engines: () => engines, err: () => err };
}

describe("vchat bots --fleet", () => {
  it("checks the Pulumi CLI, backend and AWS credentials first (not Atlas: a fleet has no database)", async () => {
    const c = cli({ probe: probe({ pulumi: false }) });
    const err = await c.run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err).toMatchObject({ code: "PULUMI_NOT_INSTALLED", exitCode: 2 });
    expect((err as Error).message).not.toMatch(/Atlas/);
    expect(c.engines()).toBe(0);
  });

  it("Ctrl-C while the fleet comes up cancels it, tears down, exits 130", async () => {
    const timeline: string[] = [];
    const ctl = new AbortController();
    const c = cli({ engine: new FakeFleet(timeline, { upWaitsForAbort: true }), ctl });
    setTimeout(() => ctl.abort("SIGINT"), 10);
    await expect(c.run).rejects.toMatchObject({ code: "CANCELLED", exitCode: 130 });
    expect(timeline).toEqual([`up eu 4x${size.cpu}`, "destroy eu"]);
  });

  it("a teardown that fails exits 1 and names the command that removes the fleet", async () => {
    const timeline: string[] = [];
    const c = cli({ engine: new FakeFleet(timeline, { failDestroy: new StackError("OPERATION_FAILED", "destroy of eu failed", 1) }) });
    expect(await c.run).toBe(1);
    expect(timeline).toEqual([`up eu 4x${size.cpu}`, "coordinate", "destroy eu"]);
    expect(c.err()).toContain("teardown failed (destroy of eu failed); remove it with pulumi -C stacks/fleet destroy --stack eu");
  });

  it("hands the workers the coordinator's Redis in the variable `vchat bots worker` reads", () => {
    expect(coordinatorVariable).toBe(coordinatorEnv);
  });

  it("parses --fleet W --stack NAME [--keep], and refuses the combinations that make no sense", () => {
    const raw = rawBotsOptions({ url: "http://127.0.0.1:8080", duration: "30s" });
    expect(parseBotsOptions({ ...raw, pairs: 100, fleet: 4, stack: "eu", keep: true })).toMatchObject({
      fargate: { workers: 4, stack: "eu", keep: true, registerTimeoutMs: 60_000 },
      fleet: null,
    });
    expect(parseBotsOptions({ ...raw, fleet: 4, stack: "eu", workerTimeout: "2m" }).fargate?.registerTimeoutMs).toBe(120_000);
    expect(parseBotsOptions(raw).fargate).toBeUndefined();
    expect(parseBotsOptions({ ...raw, pairs: 10_000, fleet: 48, stack: "eu" }).pairs).toBe(10_000);
    for (const [bad, message] of [
      [{ fleet: 4 }, /--fleet needs --stack/],
      [{ stack: "eu" }, /--stack and --keep go with --fleet/],
      [{ keep: true }, /--stack and --keep go with --fleet/],
      [{ fleet: 4, stack: "eu", peers: 3 }, /give --pairs, not --peers/],
      [{ fleet: 4, stack: "eu", workers: 2 }, /--workers counts this machine's threads/],
      [{ fleet: 4, stack: "eu", coordinator: "redis://127.0.0.1:6379" }, /--fleet brings its own coordinator Redis/],
      [{ fleet: 4, stack: "eu", local: true }, /--fleet brings its own coordinator Redis/],
      [{ pairs: 5001 }, /--pairs must be a whole number from 1 to 5000 on one machine, got "5001"; more need --fleet W/],
    ] as const) {
      expect(() => parseBotsOptions({ ...raw, ...bad })).toThrow(UsageError);
      expect(() => parseBotsOptions({ ...raw, ...bad })).toThrow(message);
    }
  });
});
