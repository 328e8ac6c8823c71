import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError } from "./config.ts";
import { repositoryArn, resolveFleetConfig } from "./fleet.ts";
import { coresPerCall, fargateSizes, fleetSize, targetCpuShare } from "./fleet-size.ts";
import { offlineFleetOverrides, planFleetOffline, type OfflineFleetPlan, type PlannedResource } from "./offline.ts";

let own: OfflineFleetPlan;
let external: OfflineFleetPlan;
const externalRedis = { redis: "external", redisUrl: "rediss://:pw@redis.example.org:6379", redisSecurityGroupId: "sg-0123456789abcdef0" };

beforeAll(async () => {
  own = await planFleetOffline({ calls: 1000, workers: 10, media: "synthetic" });
  external = await planFleetOffline({ calls: 300, workers: 3, media: "vp8" }, externalRedis);
}, 60_000);

const ofType = (plan: OfflineFleetPlan, suffix: string) => plan.resources.filter((r) => r.type.endsWith(suffix));
const one = (plan: OfflineFleetPlan, suffix: string): PlannedResource => {
  const found = ofType(plan, suffix);
  expect(found, suffix).toHaveLength(1);
  return found[0]!;
};

const props = (r: PlannedResource) => r.props as Record<string, any>;
const container = (plan: OfflineFleetPlan) => JSON.parse(props(one(plan, "/taskDefinition:TaskDefinition")).containerDefinitions)[0];

describe("fleetSize: Fargate tasks from the measured cores per call", () => {
  it("gives each worker its share of the calls at 60 % of the task's vCPU, in a size Fargate offers", () => {
    // 100 synthetic calls: 1.13 cores, 1.9 vCPU at 60 % → 2 vCPU; 384 + 800 MiB → 4 GiB (2 vCPU's least).
    expect(fleetSize({ calls: 1000, workers: 10, media: "synthetic" })).toEqual({
      workers: 10,
      callsPerWorker: 100,
      coresPerWorker: 1.13,
      cpu: 2048,
      memory: 4096,
    });
    // 2 vCPU at 60 % is 1.2 cores: 106 calls (1.198) fit, 107 (1.209) take the next size.
    expect(fleetSize({ calls: 106, workers: 1, media: "synthetic" }).cpu).toBe(2048);
    expect(fleetSize({ calls: 107, workers: 1, media: "synthetic" }).cpu).toBe(4096);
    // vp8 runs on werift's pipeline, 3x the cores.
    expect(fleetSize({ calls: 300, workers: 3, media: "vp8" })).toMatchObject({ callsPerWorker: 100, cpu: 8192 });
    // An uneven split sizes for the fuller worker.
    expect(fleetSize({ calls: 11, workers: 10, media: "synthetic" })).toMatchObject({ callsPerWorker: 2, cpu: 256, memory: 512 });
    for (const plan of [
      { calls: 1, workers: 1, media: "synthetic" as const },
      { calls: 5000, workers: 20, media: "vp8" as const },
    ]) {
      const s = fleetSize(plan);
      expect(fargateSizes.find((f) => f.cpu === s.cpu)?.memory).toContain(s.memory);
      expect(s.coresPerWorker / (s.cpu / 1024)).toBeLessThanOrEqual(targetCpuShare);
    }
  });

  it("refuses a worker share no Fargate task carries, naming a fleet size that does", () => {
    const perTask = Math.floor((16 * targetCpuShare) / coresPerCall.synthetic);
    expect(() => fleetSize({ calls: 10_000, workers: 1, media: "synthetic" })).toThrow(ConfigError);
    expect(() => fleetSize({ calls: 10_000, workers: 1, media: "synthetic" })).toThrow(`use --fleet ${Math.ceil(10_000 / perTask)} or more`);
    expect(() => fleetSize({ calls: 10, workers: 0, media: "synthetic" })).toThrow(/at least one worker/);
  });
});

describe("resolveFleetConfig", () => {
  const size = fleetSize({ calls: 10, workers: 1, media: "synthetic" });

  it("names every missing or bad key with the command that sets it", () => {
    const err = (() => {
      try {
        resolveFleetConfig("eu", { subnetIds: "subnet-nothex", image: "vchat:latest", publicIp: "yes" }, size);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toContain("vchat-fleet:vpcId is not set");
    expect(err!.message).toContain("vchat-fleet:subnetIds must be subnet ids");
    expect(err!.message).toContain("vchat-fleet:image must be an ECR image");
    expect(err!.message).toContain('vchat-fleet:publicIp must be true or false, got "yes"');
    expect(err!.message).toContain("pulumi -C stacks/fleet config set --stack eu vchat-fleet:<key> <value>");
  });

  it("takes the service's image by content tag only, and TLS Redis only", () => {
    expect(() => resolveFleetConfig("eu", { ...offlineFleetOverrides, image: offlineFleetOverrides.image!.replace("git-0ff11e0", "latest") }, size)).toThrow(
      /pinned like the service's/,
    );
    // What `vchat up` tags its own builds with.
    expect(
      resolveFleetConfig("eu", { ...offlineFleetOverrides, image: offlineFleetOverrides.image!.replace("git-0ff11e0", "src-0123456789abcdef") }, size).image,
    ).toMatch(/:src-0123456789abcdef$/);
    expect(() => resolveFleetConfig("eu", { ...offlineFleetOverrides, redis: "external", redisUrl: "redis://h:6379" }, size)).toThrow(/rediss:\/\//);
    expect(() => resolveFleetConfig("eu", { ...offlineFleetOverrides, redis: "external" }, size)).toThrow(/vchat-fleet:redisUrl is not set/);
    expect(() => resolveFleetConfig("prod", offlineFleetOverrides, size)).toThrow(/must not be prod/);
  });

  it("reads the repository ARN the execution role may pull from off the image, by tag or digest", () => {
    expect(repositoryArn("123456789012.dkr.ecr.us-east-2.amazonaws.com/team/vchat-dev:git-0ff11e0")).toBe(
      "arn:aws:ecr:us-east-2:123456789012:repository/team/vchat-dev",
    );
    const digest = `sha256:${"ab".repeat(32)}`;
    expect(repositoryArn(`123456789012.dkr.ecr.eu-west-1.amazonaws.com/vchat-dev:src-0123456789abcdef@${digest}`)).toBe(
      "arn:aws:ecr:eu-west-1:123456789012:repository/vchat-dev",
    );
    const size1 = fleetSize({ calls: 1, workers: 1, media: "synthetic" });
    expect(
      resolveFleetConfig("eu", { ...offlineFleetOverrides, image: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/vchat-dev@${digest}` }, size1).image,
    ).toMatch(/@sha256:/);
  });
});

describe("the BotFleet component on Pulumi mocks", () => {
  it("is one component holding every resource, and passes every security rule", () => {
    for (const plan of [own, external]) {
      expect(plan.resources.filter((r) => r.component).map((r) => r.type)).toEqual(["vchat:stacks:BotFleet"]);
      const root = plan.resources.find((r) => !r.parent)!;
      for (const r of plan.resources) if (r !== root) expect(r.parent, r.name).toBe(root.name);
      expect(plan.violations).toEqual([]);
    }
  });

  it("runs the service's image as `vchat bots worker` W times, sized by the plan, in the given subnets", () => {
    const task = props(one(own, "/taskDefinition:TaskDefinition"));
    expect(task).toMatchObject({ cpu: "2048", memory: "4096", networkMode: "awsvpc", requiresCompatibilities: ["FARGATE"] });
    const c = container(own);
    expect(c.image).toBe(offlineFleetOverrides.image);
    // The image's entry point (node cli/vchat.ts) with `bots worker`; the URL, with its password, from the environment.
    expect(c.entryPoint).toBeUndefined();
    expect(c.command).toEqual(["bots", "worker", "--wait", "30m"]);
    expect(c.secrets).toEqual([{ name: "VCHAT_BOTS_COORDINATOR", valueFrom: expect.stringMatching(/^arn:aws:.*coordinator/) }]);
    expect(JSON.stringify(c.environment)).not.toMatch(/rediss?:/);
    expect(c.portMappings).toBeUndefined();
    expect(c.logConfiguration.options["awslogs-group"]).toBe("/vchat/fleet/offline");
    const service = props(one(own, "ecs/service:Service"));
    expect(service).toMatchObject({ launchType: "FARGATE", desiredCount: 10, waitForSteadyState: true });
    expect(service.networkConfiguration).toMatchObject({ subnets: offlineFleetOverrides.subnetIds!.split(","), assignPublicIp: true });
    expect(props(one(external, "ecs/service:Service")).desiredCount).toBe(3);
    expect(props(one(external, "/taskDefinition:TaskDefinition")).cpu).toBe("8192");
  });

  it("gives the workers an egress-only group; its own Redis admits them alone, TLS and token on", () => {
    const groups = ofType(own, "/securityGroup:SecurityGroup");
    const workers = groups.find((g) => props(g).tags["vchat:role"] === "bots")!;
    expect(props(workers).ingress ?? []).toEqual([]);
    expect(props(workers).egress).toHaveLength(1);
    const redis = groups.find((g) => props(g).tags["vchat:role"] === "redis")!;
    expect(props(redis).ingress ?? []).toEqual([]);
    const rule = props(one(own, "/securityGroupIngressRule:SecurityGroupIngressRule"));
    expect(rule).toMatchObject({
      ipProtocol: "tcp",
      fromPort: 6379,
      toPort: 6379,
      securityGroupId: `${redis.name}-id`,
      referencedSecurityGroupId: `${workers.name}-id`,
    });
    expect(props(one(own, "/replicationGroup:ReplicationGroup"))).toMatchObject({
      transitEncryptionEnabled: true,
      transitEncryptionMode: "required",
      atRestEncryptionEnabled: true,
      authToken: "[secret]",
      numCacheClusters: 1,
    });
    expect(own.outputs.coordinatorUrl).toBe("[secret]");
  });

  it("with the environment's Redis: no ElastiCache of its own, the workers let into that Redis's group", () => {
    expect(ofType(external, "/replicationGroup:ReplicationGroup")).toEqual([]);
    const rule = props(one(external, "/securityGroupIngressRule:SecurityGroupIngressRule"));
    expect(rule).toMatchObject({ securityGroupId: externalRedis.redisSecurityGroupId, fromPort: 6379 });
    expect(props(one(external, "/secretVersion:SecretVersion")).secretString).toBe("[secret]");
  });

  it("grants least privilege: the execution role pulls one repository, writes one log group, reads one secret; the task role nothing", () => {
    const roles = ofType(own, "/role:Role");
    expect(roles).toHaveLength(2);
    const policies = ofType(own, "/rolePolicy:RolePolicy");
    expect(policies).toHaveLength(1);
    expect(ofType(own, "/rolePolicyAttachment:RolePolicyAttachment")).toEqual([]);
    const exec = roles.find((r) => r.name.endsWith("exec-role"))!;
    expect(props(policies[0]!).role).toBe(`${exec.name}-id`);
    const task = roles.find((r) => r.name.endsWith("task-role"))!;
    expect(props(task).tags["vchat:role"]).toBe("no-permissions");
    const doc = JSON.parse(props(policies[0]!).policy);
    const grants = Object.fromEntries(doc.Statement.flatMap((s: { Action: string[]; Resource: string[] }) => s.Action.map((a) => [a, s.Resource])));
    expect(grants).toEqual({
      "ecr:GetAuthorizationToken": ["*"],
      "ecr:BatchCheckLayerAvailability": ["arn:aws:ecr:eu-west-1:123456789012:repository/vchat-dev"],
      "ecr:GetDownloadUrlForLayer": ["arn:aws:ecr:eu-west-1:123456789012:repository/vchat-dev"],
      "ecr:BatchGetImage": ["arn:aws:ecr:eu-west-1:123456789012:repository/vchat-dev"],
      "logs:CreateLogStream": [expect.stringMatching(/^arn:aws:.*logs.*:\*$/)],
      "logs:PutLogEvents": [expect.stringMatching(/^arn:aws:.*logs.*:\*$/)],
      "secretsmanager:GetSecretValue": [expect.stringMatching(/^arn:aws:.*coordinator$/)],
    });
    expect(props(one(own, "/taskDefinition:TaskDefinition"))).toMatchObject({
      executionRoleArn: expect.stringContaining("exec-role"),
      taskRoleArn: expect.stringContaining("task-role"),
    });
  });

  it("keeps logs three days, in the stack's region", () => {
    expect(props(one(own, "/logGroup:LogGroup")).retentionInDays).toBe(3);
    expect(props(one(own, "providers:aws")).region).toBe("eu-west-1");
    expect(container(own).logConfiguration.options["awslogs-region"]).toBe("eu-west-1");
  });
});
