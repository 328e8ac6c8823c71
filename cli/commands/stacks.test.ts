import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { PassThrough } from "node:stream";
import { Command, CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import { mapAutomationError, toStackEvent, type PrerequisiteProbe, type StackEvent } from "../../stacks/engine.ts";
import { FakeEngine, sampleEngineEvents } from "../../stacks/testing/fake-engine.ts";
import { progressReducer, registerStacks, type StacksDeps } from "./stacks.ts";

const root = join(import.meta.dirname, "..", "..");

function probe(opts: { pulumi?: boolean; aws?: boolean; atlas?: boolean; backend?: boolean } = {}): PrerequisiteProbe {
  const { pulumi = true, aws = true, atlas = true, backend = true } = opts;
  return {
    home: "/home/nobody",
    env: {
      ...(aws ? { AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "x" } : {}),
      ...(atlas ? { MONGODB_ATLAS_PUBLIC_KEY: "p", MONGODB_ATLAS_PRIVATE_KEY: "k" } : {}),
      ...(backend ? { PULUMI_BACKEND_URL: "file:///tmp/state", PULUMI_CONFIG_PASSPHRASE: "" } : {}),
    },
    which: (name) => (pulumi && name === "pulumi" ? "/usr/local/bin/pulumi" : undefined),
    exists: () => false,
  };
}

interface Run {
  code: number | undefined;
  out: string;
  err: string;
  engine: FakeEngine;
  saved: Record<string, unknown>[];
}

async function vchat(
  argv: string[],
  o: { engine?: FakeEngine; probe?: PrerequisiteProbe; tty?: boolean; answer?: boolean; abortAfterEvents?: number } = {},
): Promise<Run> {
  const engine = o.engine ?? new FakeEngine();
  let out = "";
  let err = "";
  let code: number | undefined;
  const saved: Record<string, unknown>[] = [];
  const stdout = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  stdout.on("data", (c) => (out += c.toString()));
  stdout.isTTY = o.tty ?? false;
  stdout.columns = 100;
  const ctl = new AbortController();
  let seen = 0;
  const wrapped = new Proxy(engine, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv);
      if (typeof v !== "function" || !["up", "destroy", "preview"].includes(String(prop))) return v;
      return (env: never, opts: { onEvent?: (e: StackEvent) => void; signal?: AbortSignal }) =>
        v.call(target, env, {
          ...opts,
          onEvent: (e: StackEvent) => {
            opts.onEvent?.(e);
            if (o.abortAfterEvents && ++seen === o.abortAfterEvents) ctl.abort();
          },
        });
    },
  });
  const deps: Partial<StacksDeps> = {
    engine: () => wrapped,
    probe: () => o.probe ?? probe(),
    stdout,
    stderr: { write: (s: string) => (err += s) },
    confirm: async () => o.answer ?? false,
    setExitCode: (c) => (code = c),
    interrupt: () => ({ signal: ctl.signal, dispose() {} }),
    saveContext: (name, ctx) => (saved.push({ name, ...ctx }), "contexts.json"),
  };
  const program = new Command("vchat").exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerStacks(program, deps);
  await program.parseAsync(["node", "vchat", ...argv]);
  await new Promise((r) => setImmediate(r));
  return { code, out, err, engine, saved };
}

describe("prerequisites: nothing starts without them", () => {
  it("without the pulumi binary: says what to install, exit 2, engine untouched", async () => {
    const r = await vchat(["up", "--yes"], { probe: probe({ pulumi: false }) });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/pulumi CLI is not on PATH: install it/);
    expect(r.err).toMatch(/nothing was changed/);
    expect(r.engine.calls).toEqual([]);
  });

  it("without AWS credentials: says what to set, exit 2, engine untouched", async () => {
    for (const argv of [["up", "--yes"], ["preview"], ["down", "--yes"]]) {
      const cmd = argv[0];
      const r = await vchat(argv, { probe: probe({ aws: false }) });
      expect(r.code, cmd).toBe(2);
      expect(r.err).toMatch(/no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/);
      expect(r.err).not.toMatch(/pulumi CLI/);
      expect(r.engine.calls).toEqual([]);
    }
  });

  it("lists every missing piece at once, and --json carries the stable code", async () => {
    const r = await vchat(["up", "--yes", "--json"], { probe: probe({ pulumi: false, aws: false, atlas: false, backend: false }) });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/pulumi CLI[\s\S]*state backend[\s\S]*AWS credentials[\s\S]*Atlas API key/);
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, error: { code: "PULUMI_NOT_INSTALLED" } });
  });

  it("outputs needs only the CLI and a backend", async () => {
    const r = await vchat(["outputs", "--json"], { probe: probe({ aws: false, atlas: false }) });
    expect(r.code).toBe(0);
  });

  it("the real binary, from the shell, without pulumi on PATH: exit 2 and no stack files written", async () => {
    const home = mkdtempSync(join(tmpdir(), "vchat-home-"));
    const res = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const child = spawn(process.execPath, ["cli/vchat.ts", "up", "--env", "dev", "--yes"], {
        cwd: root,
        env: { PATH: "/usr/bin:/bin", HOME: home },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      child.stderr.on("data", (c) => (err += c.toString()));
      child.on("exit", (code) => resolve({ code, err }));
    });
    expect(res.code).toBe(2);
    expect(res.err).toMatch(/pulumi CLI is not on PATH/);
    expect(res.err).toMatch(/no AWS credentials/);
    expect(existsSync(join(root, "stacks", "Pulumi.dev.yaml"))).toBe(false);
  });
});

describe("up / preview / down / outputs on a fake Automation API", () => {
  it("up --yes --json applies once and prints changes, outputs (secret masked) and the events", async () => {
    const r = await vchat(["up", "--env", "prod", "--yes", "--json"]);
    expect(r.code).toBe(0);
    expect(r.engine.calls).toEqual([{ action: "up", env: "prod" }]);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({ ok: true, env: "prod", action: "up", changes: { create: 3 } });
    expect(json.outputs.atlasConnectionString).toBe("[secret]");
    expect(json.outputs.webUrl).toBe("https://d111.cloudfront.net");
    expect(json.events.filter((e: StackEvent) => e.kind === "resource-done")).toHaveLength(3);
    expect(r.out).not.toContain("hunter2");
    // The new environment is saved as a target for --context (the API origin, where /api and the socket are).
    expect(json.context).toBe("aws-prod");
    expect(r.saved).toEqual([{ name: "aws-prod", url: json.outputs.apiUrl }]);
  });

  it("refuses to change anything off a terminal without --yes", async () => {
    for (const cmd of ["up", "down"]) {
      const r = await vchat([cmd]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/pass --yes/);
      expect(r.engine.calls).toEqual([]);
    }
  });

  it("on a terminal: previews, asks, and changes nothing when the answer is no", async () => {
    const r = await vchat(["up"], { tty: true, answer: false });
    expect(r.code).toBe(0);
    expect(r.engine.calls.map((c) => c.action)).toEqual(["preview"]);
    expect(r.out).toMatch(/nothing changed/);
    // The ink tree showed the nested resources with their operation.
    expect(r.out).toMatch(/vchat-dev-turn-asg/);
  });

  it("on a terminal: applies after a yes, exactly the plan that was previewed", async () => {
    const r = await vchat(["up"], { tty: true, answer: true });
    expect(r.code).toBe(0);
    expect(r.engine.calls.map((c) => c.action)).toEqual(["preview", "up"]);
    const [preview, up] = r.engine.calls;
    expect(preview!.savePlanTo).toMatch(/dev\.plan\.json$/);
    expect(up!.plan).toBe(preview!.savePlanTo);
    // The plan file lived in a temporary folder that is gone afterwards.
    expect(existsSync(up!.plan!)).toBe(false);
    expect(r.out).toMatch(/webUrl\s+https:\/\/d111\.cloudfront\.net/);
  });

  it("down previews a DESTROY (not an update) and says what goes and what stays before asking", async () => {
    const r = await vchat(["down", "--env", "prod", "--destroy-prod"], {
      tty: true,
      answer: false,
      engine: new FakeEngine({ protectedNames: ["vchat-prod-data-redis", "vchat-prod-data-atlas-cluster"] }),
    });
    expect(r.code).toBe(0);
    expect(r.engine.calls.map((c) => c.action)).toEqual(["previewDestroy"]);
    expect(r.out).toMatch(/goes \(3\): vchat-prod, vchat-prod-turn, vchat-prod-turn-asg/);
    expect(r.out).toMatch(/stays \(2, protected\): vchat-prod-data-redis, vchat-prod-data-atlas-cluster/);
    expect(r.out).toMatch(/nothing changed/);
  });

  it("down on prod needs --destroy-prod besides the confirmation; without it nothing runs", async () => {
    for (const argv of [
      ["down", "--env", "prod", "--yes"],
      ["down", "--env", "prod", "--yes", "--json"],
    ]) {
      const r = await vchat(argv, { tty: true, answer: true });
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/needs --destroy-prod/);
      expect(r.engine.calls).toEqual([]);
    }
    const ok = await vchat(["down", "--env", "prod", "--destroy-prod"], { tty: true, answer: true });
    expect(ok.engine.calls.map((c) => c.action)).toEqual(["previewDestroy", "destroy"]);
  });

  it("plain text progress off a terminal: one line per finished resource and the summary", async () => {
    const r = await vchat(["down", "--yes"]);
    expect(r.code).toBe(0);
    expect(r.engine.calls).toEqual([
      { action: "previewDestroy", env: "dev" },
      { action: "destroy", env: "dev" },
    ]);
    expect(r.out).toMatch(/ok +delete vchat-dev-turn-asg \(Group\) 500ms/);
    expect(r.out).toMatch(/changes: 3 delete/);
  });

  it("Ctrl-C cancels cleanly: exit 130 and a message saying how to converge", async () => {
    const r = await vchat(["up", "--yes"], { engine: new FakeEngine({ waitForAbort: true }), abortAfterEvents: 2 });
    expect(r.code).toBe(130);
    expect(r.err).toMatch(/up of dev cancelled/);
  });

  it("maps Automation API errors to clear messages", async () => {
    const busy = Object.assign(new Error("conflict: Another update is currently in progress."), { name: "ConcurrentUpdateError" });
    const r = await vchat(["up", "--yes"], { engine: new FakeEngine({ failWith: busy }) });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/another update is running on stack dev/);
    const missing = Object.assign(new Error("no stack named 'prod' found"), { name: "StackNotFoundError" });
    const o = await vchat(["outputs", "--env", "prod"], { engine: new FakeEngine({ failWith: missing }) });
    expect(o.code).toBe(1);
    expect(o.err).toMatch(/stack prod does not exist yet: create it with `pulumi -C stacks stack init prod`/);
  });

  it("outputs: masked by default, in clear with --show-secrets", async () => {
    const masked = await vchat(["outputs", "--json"]);
    expect(JSON.parse(masked.out)).toMatchObject({ ok: true, env: "dev", secrets: ["atlasConnectionString"], outputs: { atlasConnectionString: "[secret]" } });
    const shown = await vchat(["outputs", "--json", "--show-secrets"]);
    expect(JSON.parse(shown.out).outputs.atlasConnectionString).toMatch(/^mongodb\+srv:/);
    const text = await vchat(["outputs"]);
    expect(text.out).toMatch(/turnUrls\s+turn:turn\.example\.org:3478\?transport=udp/);
  });

  it("rejects an unknown environment", async () => {
    await expect(vchat(["up", "--env", "staging", "--yes"])).rejects.toBeInstanceOf(CommanderError);
  });
});

describe("engine event handling", () => {
  it("nests rows under their parents and times them", () => {
    const starts = new Map<string, number>();
    let rows: ReturnType<typeof progressReducer> = [];
    let t = 0;
    for (const raw of sampleEngineEvents("dev")) {
      const ev = toStackEvent(raw, (t += 100));
      if (ev) rows = progressReducer(rows, ev, starts);
    }
    expect(rows.map((r) => [r.name, r.depth, r.status])).toEqual([
      ["vchat-dev", 0, "done"],
      ["vchat-dev-turn", 1, "done"],
      ["vchat-dev-turn-asg", 2, "done"],
    ]);
    expect(rows[2]!.durationMs).toBe(200);
  });

  it("maps policy and credential failures", () => {
    expect(mapAutomationError(new Error("error: mandatory policy violation"), "dev", "up").code).toBe("POLICY_VIOLATION");
    expect(mapAutomationError(new Error("NoCredentialProviders: no valid providers"), "dev", "up")).toMatchObject({
      code: "AWS_CREDENTIALS_MISSING",
      exitCode: 2,
    });
    expect(mapAutomationError(new Error("boom\nline2"), "dev", "up")).toMatchObject({ code: "OPERATION_FAILED", exitCode: 1 });
    // The program's own refusal, should it get past the check before the engine.
    expect(
      mapAutomationError(
        new Error("Running program failed: ConfigError: cannot ship dev:\n  web/dist is not built: run `npm run build:web` first\n    at x"),
        "dev",
        "up",
      ),
    ).toMatchObject({ code: "RELEASE_NOT_READY", exitCode: 2, message: "cannot ship dev:\n  web/dist is not built: run `npm run build:web` first" });
  });
});

describe("vchat preview --offline", () => {
  it("--json from the shell: the resource tree with key settings, outputs and no rule violations", async () => {
    const res = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      // No pulumi, no AWS: the offline preview needs neither.
      const child = spawn(process.execPath, ["cli/vchat.ts", "preview", "--offline", "--json", "--env", "prod"], {
        cwd: root,
        env: { PATH: "/usr/bin:/bin", HOME: tmpdir() },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (c) => (out += c.toString()));
      child.stderr.on("data", (c) => (err += c.toString()));
      child.on("exit", (code) => resolve({ code, out, err }));
    });
    expect(res.code, res.err).toBe(0);
    const plan = JSON.parse(res.out);
    expect(plan).toMatchObject({ ok: true, env: "prod", offline: true, violations: [] });
    const byType = (t: string) => plan.resources.filter((r: { type: string }) => r.type.endsWith(t));
    expect(byType("launchTemplate:LaunchTemplate")[0].settings).toEqual(
      expect.arrayContaining([
        "IMDS tokens required, hop limit 1",
        expect.stringMatching(/^coturn \$REGISTRY\/vchat-prod-dockerhub\/coturn\/coturn:4\.10\.0@sha256:/),
        expect.stringMatching(/^TCP relays refused, max \d+ B\/s per session/),
      ]),
    );
    // No line shows a value the plan did not have.
    expect(plan.resources.flatMap((r: { settings: string[] }) => r.settings).filter((l: string) => /undefined|NaN/.test(l))).toEqual([]);
    expect(byType("replicationGroup:ReplicationGroup")[0].settings).toContain("TLS in transit on, at rest on, auth token on");
    expect(byType("turn/securityGroup:SecurityGroup").length + byType("ec2/securityGroup:SecurityGroup").length).toBeGreaterThan(0);
    expect(plan.outputs.atlasConnectionString).toBe("[secret]");
    expect(res.out).not.toMatch(/offline0x{8}/);
    // The image build, the CloudFront origins and behaviours, and the upload of web/dist as this checkout has it.
    expect(byType("docker-build:index:Image")[0].settings).toEqual([
      "build Dockerfile for linux/amd64 (not during previews)",
      expect.stringMatching(/^push \d{12}\.dkr\.ecr\.[\w-]+\.amazonaws\.com\/vchat-prod:src-[0-9a-f]{16}$/),
    ]);
    const cdn = byType("distribution:Distribution")[0].props;
    expect(cdn.origins.map((o: { originId: string }) => o.originId)).toEqual(["web", "api"]);
    expect(cdn.origins[1].customHeaders).toEqual([{ name: "x-vchat-origin-verify", value: "[secret]" }]);
    expect(cdn.orderedCacheBehaviors.map((b: { pathPattern: string; targetOriginId: string }) => `${b.pathPattern} ${b.targetOriginId}`)).toEqual([
      "/api/* api",
      "/socket.io/* api",
      "/healthz api",
      "/index.html web",
    ]);
    const dist = join(root, "web", "dist");
    const uploaded = byType("s3/bucketObjectv2:BucketObjectv2").map((r: { props: { key: string } }) => r.props.key);
    if (existsSync(join(dist, "index.html"))) {
      expect(uploaded.sort()).toEqual(
        readdirSync(dist, { recursive: true, withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => relative(dist, join(e.parentPath, e.name)))
          .sort(),
      );
      expect(plan.notes).toEqual([]);
    } else {
      expect(uploaded).toEqual([]);
      expect(plan.notes).toEqual(["web/dist is not built: run `npm run build:web` first (vchat up uploads it to the bucket)"]);
    }
  }, 60_000);

  it("renders the tree for people", async () => {
    const r = await vchat(["preview", "--offline"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/vchat dev: planned offline on Pulumi mocks \(\d+ resources\)/);
    expect(r.out).toMatch(/▸ vchat-dev-turn Turn/);
    expect(r.out).toMatch(/in udp 49152-65535 from 0\.0\.0\.0\/0/);
    expect(r.out).toMatch(/security rules: all passed/);
    expect(r.engine.calls).toEqual([]);
  }, 60_000);

  it("--fleet W plans a bots fleet sized for --pairs: W workers running `vchat bots worker`, no ingress, rules passed", async () => {
    const r = await vchat(["preview", "--offline", "--fleet", "4", "--pairs", "400", "--json"]);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.out);
    expect(plan).toMatchObject({ ok: true, offline: true, violations: [], fleet: { workers: 4, callsPerWorker: 100, cpu: 2048, memory: 4096 } });
    const settings = (suffix: string) => plan.resources.find((x: { type: string }) => x.type.endsWith(suffix)).settings;
    expect(settings("ecs/service:Service")).toContain("FARGATE, 4 task(s), public IP on");
    expect(settings("taskDefinition:TaskDefinition")).toEqual(expect.arrayContaining([expect.stringMatching(/^command bots worker --wait/)]));
    expect(plan.outputs.coordinatorUrl).toBe("[secret]");
    const text = await vchat(["preview", "--offline", "--fleet", "4", "--pairs", "400"]);
    expect(text.out).toMatch(/vchat fleet \(4 workers × 2 vCPU \/ 4096 MiB, 100 calls each\): planned offline/);
    expect(text.out).toMatch(/security rules: all passed/);
    await expect(vchat(["preview", "--fleet", "4"])).rejects.toThrow(/--fleet plans offline only/);
  }, 60_000);
});
