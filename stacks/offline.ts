/**
 * Runs the real program on Pulumi's mocks (no CLI, no cloud): every resource's inputs are
 * recorded, the tree is rebuilt from the parent links, and the security rules run over it.
 * `vchat preview --offline` renders this; the tests assert on it.
 */
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { relative } from "node:path";
import { offlineEnvConfig, type ConfigOverrides, type EnvConfig, type EnvName } from "./config.ts";
import { fleetOutputNames, fleetProgram, fleetProject, resolveFleetConfig, type FleetConfig, type FleetOverrides } from "./fleet.ts";
import { fleetSize, type FleetPlan, type FleetSize } from "./fleet-size.ts";
import { Environment, outputNames } from "./program.ts";
import { checkoutRoot, readRelease } from "./release.ts";
import { checkAll, type ResourceRecord, type RuleViolation } from "./rules.ts";

export interface PlannedResource extends ResourceRecord {
  /** The parent's logical name; absent for the root component. */
  parent?: string;
  /** A component (grouping) rather than a cloud resource. */
  component: boolean;
}

export interface OfflinePlan {
  env: EnvName;
  config: EnvConfig;
  resources: PlannedResource[];
  /** Stack outputs as the mocks resolve them; secrets are masked. */
  outputs: Record<string, unknown>;
  violations: RuleViolation[];
  /** What a real `vchat up` from this checkout would refuse for (no built web client, no Dockerfile). */
  notes: string[];
}

/** Input keys whose values never leave the process, even fake ones. */
const secretKeys = new Set(["secretString", "authToken", "password", "result"]);
export const masked = "[secret]";

/** Deterministic stand-ins for what AWS, Atlas and random would compute. */
function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const arn = `arn:aws:mock:eu-west-1:123456789012:${type.split(":").pop()}/${name}`;
  const base: Record<string, unknown> = { ...inputs, arn, name: inputs.name ?? name };
  switch (type) {
    case "random:index/randomPassword:RandomPassword":
      return { ...base, result: "offline0" + "x".repeat(Math.max(0, Number(inputs.length ?? 16) - 8)) };
    case "aws:ec2/eip:Eip":
      return { ...base, publicIp: `203.0.113.${(hash(name) % 250) + 1}` };
    case "aws:lb/loadBalancer:LoadBalancer":
      return { ...base, dnsName: `${name}.elb.mock.amazonaws.com` };
    case "aws:cloudfront/distribution:Distribution":
      return { ...base, domainName: `${name}.cloudfront.mock.net` };
    case "aws:s3/bucket:Bucket":
      return { ...base, bucket: `${name}-bucket`, bucketRegionalDomainName: `${name}.s3.eu-west-1.amazonaws.com` };
    case "docker-build:index:Image": {
      const digest = `sha256:${createHash("sha256")
        .update(JSON.stringify(inputs.tags ?? name))
        .digest("hex")}`;
      return { ...base, digest, ref: `${String((inputs.tags as string[] | undefined)?.[0])}@${digest}` };
    }
    case "aws:ecr/repository:Repository":
      return { ...base, repositoryUrl: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/${String(inputs.name ?? name)}` };
    case "aws:elasticache/replicationGroup:ReplicationGroup":
      return { ...base, primaryEndpointAddress: `master.${name}.mock.cache.amazonaws.com` };
    case "aws:acm/certificate:Certificate":
      // The placeholder certificates cover the placeholder domains of offlineEnvConfig().
      return { ...base, domainName: "example.org", subjectAlternativeNames: ["*.dev.example.org", "*.prod.example.org", "*.example.org"] };
    case "aws:ec2/launchTemplate:LaunchTemplate":
      return { ...base, latestVersion: 1 };
    case "mongodbatlas:index/advancedCluster:AdvancedCluster":
      return { ...base, connectionStrings: { standardSrv: `mongodb+srv://${String(inputs.name ?? name)}.mock.mongodb.net` } };
    case "aws:cloudformation/stack:Stack":
      return { ...base, outputs: { ChannelArn: `arn:aws:kinesisvideo:eu-west-1:123456789012:channel/${name}/1` } };
    default:
      return base;
  }
}

/** What the mocked `getAvailabilityZones` answers: like an account whose zone `a` is not offered first. */
export function mockZones(region: string): string[] {
  return ["b", "c", "a"].map((z) => `${region}${z}`);
}

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h;
}

/** Pulumi's marker of a secret value in serialised inputs (`{[sig]: secretSig, value}`). */
const sig = "4dabf18193072939515e22adb298388d";
const secretSig = "1b47061264138c4ac30d75fd1eb44270";

/**
 * Inputs as the engine and the policy pack see them: secrets unwrapped (masked later) and file
 * assets as their path relative to `root`.
 */
async function plainInputs(v: unknown, root: string): Promise<unknown> {
  if (Array.isArray(v)) return Promise.all(v.map((x) => plainInputs(x, root)));
  if (v instanceof pulumi.asset.FileAsset) return { file: relative(root, await v.path) };
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[sig] === secretSig) return plainInputs(o.value, root);
    const entries = await Promise.all(Object.entries(o).map(async ([k, x]) => [k, await plainInputs(x, root)] as const));
    return Object.fromEntries(entries);
  }
  return v;
}

/** Masks the values of secret keys, and generated secrets wherever else they went (the origin header's value). */
function maskSecrets(v: unknown, generated: ReadonlySet<string>): unknown {
  if (typeof v === "string" && generated.has(v)) return masked;
  if (Array.isArray(v)) return v.map((x) => maskSecrets(x, generated));
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, secretKeys.has(k) ? masked : maskSecrets(x, generated)]));
  return v;
}

const resolve = <T>(o: pulumi.Output<T>): Promise<T> =>
  new Promise((res) =>
    o.apply((v) => {
      res(v);
      return v;
    }),
  );

let queue: Promise<unknown> = Promise.resolve();

export interface OfflineOptions {
  /** The checkout whose Dockerfile and web/dist are shipped. @default this checkout */
  root?: string;
}

/**
 * Runs the program for `env` on mocks and returns the planned resources, outputs and rule
 * violations. Calls are serialised: Pulumi's runtime state is process-wide.
 *
 * @example
 * const plan = await planOffline("prod");
 * plan.violations.length === 0
 */
export function planOffline(env: EnvName, overrides: ConfigOverrides = {}, options: OfflineOptions = {}): Promise<OfflinePlan> {
  const run = queue.then(() => runOnce(env, overrides, options.root ?? checkoutRoot));
  queue = run.catch(() => undefined);
  return run;
}

async function runOnce(env: EnvName, overrides: ConfigOverrides, root: string): Promise<OfflinePlan> {
  const config = offlineEnvConfig(env, overrides);
  // What `vchatProgram` refuses for becomes notes: the plan shows what this checkout would ship.
  const release = readRelease(root, config.service.image);
  const planned = await runOnMocks(
    { project: "vchat", stack: env, region: config.region, outputNames, secretOutputs: ["atlasConnectionString"], root },
    (opts) => {
      const environment = new Environment(`vchat-${config.env}`, config, release, opts);
      // The certificate check as data instead of a failure.
      return { ...environment.outputs, certificateProblems: environment.certificateProblems };
    },
  );
  const problems = planned.rawOutputs.certificateProblems;
  const certificateProblems = pulumi.Output.isInstance(problems) ? ((await resolve(problems)) as string[]) : [];
  const violations = certificateProblems.map((message) => ({ rule: "certificates-cover-domains", resource: "config", message }));
  return {
    env,
    config,
    resources: planned.resources,
    outputs: planned.outputs,
    violations: [...violations, ...planned.violations],
    notes: release.problems,
  };
}

export interface OfflineFleetPlan {
  stack: string;
  config: FleetConfig;
  size: FleetSize;
  resources: PlannedResource[];
  outputs: Record<string, unknown>;
  violations: RuleViolation[];
  /** Nothing of the checkout is shipped by a fleet: always empty, for the preview's shape. */
  notes: string[];
}

/** Placeholders for what the operator sets on a fleet stack (`vchat-fleet:*`). */
export const offlineFleetOverrides: FleetOverrides = {
  vpcId: "vpc-0ff11e00000000000",
  subnetIds: "subnet-0ff11e0000000000a,subnet-0ff11e0000000000b",
  image: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/vchat-dev:git-0ff11e0",
};

/**
 * The `vchat-fleet` program on mocks, sized for `plan`: what `vchat preview --offline --fleet W` renders.
 *
 * @example
 * const fleet = await planFleetOffline({ calls: 1000, workers: 10, media: "synthetic" });
 */
export function planFleetOffline(plan: FleetPlan, overrides: FleetOverrides = {}, stack = "offline"): Promise<OfflineFleetPlan> {
  const run = queue.then(async () => {
    const size = fleetSize(plan);
    const config = resolveFleetConfig(stack, { ...offlineFleetOverrides, ...overrides }, size);
    const planned = await runOnMocks(
      { project: fleetProject, stack, region: config.region, outputNames: fleetOutputNames, secretOutputs: ["coordinatorUrl"], root: checkoutRoot },
      (opts) => ({ ...fleetProgram(config, opts) }),
    );
    return { stack, config, size, resources: planned.resources, outputs: planned.outputs, violations: planned.violations, notes: [] };
  });
  queue = run.catch(() => undefined);
  return run;
}

interface MockRun {
  project: string;
  stack: string;
  region: string;
  outputNames: readonly string[];
  /** Outputs shown masked. */
  secretOutputs: readonly string[];
  /** File assets are shown relative to it. */
  root: string;
}

/** Runs a program on Pulumi's mocks: its resources as planned (secrets masked), outputs, and the rules' findings. */
async function runOnMocks(
  run: MockRun,
  build: (opts: pulumi.ComponentResourceOptions) => Record<string, unknown>,
): Promise<{ resources: PlannedResource[]; outputs: Record<string, unknown>; rawOutputs: Record<string, unknown>; violations: RuleViolation[] }> {
  const secrets = new Set<string>();
  const inputsByKey = new Map<string, { inputs: Record<string, unknown>; id: string; custom: boolean }>();
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const id = `${args.name}-id`;
        const state = mockState(args.type, args.name, args.inputs ?? {});
        if (args.type === "random:index/randomPassword:RandomPassword") secrets.add(String(state.result));
        inputsByKey.set(`${args.type}::${args.name}`, { inputs: args.inputs ?? {}, id: String(state.bucket ?? id), custom: args.custom !== false });
        return { id: String(state.bucket ?? id), state };
      },
      call(args) {
        if (args.token === "aws:index/getAvailabilityZones:getAvailabilityZones") {
          return { names: mockZones(run.region), zoneIds: [2, 3, 1].map((n) => `mock-az${n}`) };
        }
        if (args.token === "aws:ec2/getManagedPrefixList:getManagedPrefixList") return { id: "pl-0mockcloudfront", name: args.inputs.name };
        return {};
      },
    },
    run.project,
    run.stack,
    false,
  );

  // Transformations run in-process for a resource and, inherited, for all its children: the
  // only place that sees each resource next to its parent.
  const seen: { resource: pulumi.Resource; type: string; name: string; parent?: string; props: Record<string, unknown>; protect: boolean }[] = [];
  const names = new WeakMap<pulumi.Resource, string>();
  const record: pulumi.ResourceTransformation = ({ resource, type, name, props, opts }) => {
    names.set(resource, name);
    seen.push({ resource, type, name, parent: opts.parent ? names.get(opts.parent) : undefined, props, protect: opts.protect === true });
    return undefined;
  };

  const outputs = build({ transformations: [record] });
  // Resources may be created inside applies: wait until no new ones appear (bounded).
  let count = -1;
  for (let round = 0; round < 50 && count !== seen.length; round++) {
    count = seen.length;
    await Promise.all(seen.map((s) => resolve(s.resource.urn)));
    await Promise.all(Object.values(outputs).map((o) => (pulumi.Output.isInstance(o) ? resolve(o) : o)));
  }
  const resolvedOutputs: Record<string, unknown> = {};
  for (const key of run.outputNames) {
    const o = outputs[key];
    if (o === undefined) continue;
    const value = pulumi.Output.isInstance(o) ? await resolve(o) : o;
    resolvedOutputs[key] = run.secretOutputs.includes(key) ? masked : value;
  }
  const inputs = new Map<string, Record<string, unknown>>();
  for (const [key, rec] of inputsByKey) inputs.set(key, (await plainInputs(rec.inputs, run.root)) as Record<string, unknown>);
  const resources: PlannedResource[] = seen.map((s) => {
    const rec = inputsByKey.get(`${s.type}::${s.name}`);
    // Components' inputs are what they passed to super() (the Turn's coturn options).
    return {
      type: s.type,
      name: s.name,
      id: rec?.id,
      parent: s.parent,
      component: rec ? !rec.custom : true,
      props: inputs.get(`${s.type}::${s.name}`) ?? s.props ?? {},
      protect: s.protect,
    };
  });
  const violations = checkAll(resources.filter((r) => !r.component || r.type === "vchat:stacks:Turn").map((r) => ({ ...r, stack: run.stack })));
  return {
    resources: resources.map((r) => ({ ...r, props: maskSecrets(r.props, secrets) as Record<string, unknown> })),
    outputs: resolvedOutputs,
    rawOutputs: outputs,
    violations,
  };
}
