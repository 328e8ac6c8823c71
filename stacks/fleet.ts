/**
 * A fleet of `vchat bots worker` processes on ECS Fargate (issue #17): the load of one
 * `vchat bots --fleet W --stack NAME` run, coordinated over Redis. Its own Pulumi project,
 * `vchat-fleet` (stacks/fleet/Pulumi.yaml), one stack per region: a fleet comes and goes with
 * each run, while the environment stays, so the two never share a state file or a `down`.
 * The sizing (task count, vCPU and memory per worker) comes from the run's plan and the measured
 * cores per call; everything else from the stack's `vchat-fleet:*` config (docs/fleet.md).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { z } from "zod";
import { ConfigError, contentTag } from "./config.ts";
import { redisPort } from "./data.ts";
import { fargateTaskDefinition } from "./fargate.ts";
import type { FleetSize } from "./fleet-size.ts";

export const fleetProject = "vchat-fleet";

const region = z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "must be an AWS region like eu-west-1");
/** The service's image from an ECR repository (`vchat outputs` → repositoryUrl), pinned by content tag or digest. */
const ecrImage = z
  .string()
  .regex(
    /^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com\/[a-z0-9._/-]+(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$/,
    "must be an ECR image like 123456789012.dkr.ecr.eu-west-1.amazonaws.com/vchat-dev:git-0ff11e0",
  )
  .refine(
    (i) => /@sha256:[0-9a-f]{64}$/.test(i) || contentTag.test(/:([\w.-]+)$/.exec(i.split("/").pop() ?? "")?.[1] ?? ""),
    "must be pinned like the service's: by digest (…@sha256:<digest>) or content tag (…:git-<commit>), never a moving tag",
  );

export const fleetConfigSchema = z.object({
  /** The stack; names the fleet's resources. */
  stack: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,29}$/, "must be lower-case letters, digits and dashes, up to 30")
    // The policy pack reads the stack name: prod's data rules would hold a throw-away fleet.
    .refine((s) => s !== "prod", "must not be prod, the environment's name"),
  region,
  vpcId: z.string().regex(/^vpc-[0-9a-f]{8,17}$/, "must be a VPC id like vpc-0123456789abcdef0"),
  subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, "must be subnet ids like subnet-0123456789abcdef0")).min(1),
  /**
   * A public IP per task: in public subnets the bots' media leaves through the internet gateway
   * instead of a NAT gateway's per-GB fee. Off for private subnets with NAT. Nothing can connect in either way.
   */
  publicIp: z.boolean(),
  image: ecrImage,
  redis: z.discriminatedUnion("mode", [
    /** The fleet's own ElastiCache (TLS, auth token); only reachable from inside the VPC. */
    z.object({ mode: z.literal("elasticache"), nodeType: z.string().min(1) }),
    /** A Redis both the workers and the coordinator reach (the environment's own, or a managed one); TLS only. */
    z.object({
      mode: z.literal("external"),
      url: z.string().regex(/^rediss:\/\/[^\s]+$/, "must be a rediss:// URL (TLS): run data crosses networks"),
      /** The Redis's security group, to let the workers in (the environment's ElastiCache). */
      securityGroupId: z
        .string()
        .regex(/^sg-[0-9a-f]{8,17}$/, "must be a security group id like sg-0123456789abcdef0")
        .optional(),
    }),
  ]),
  workers: z.number().int().min(1).max(1000),
  cpu: z.number().int().positive(),
  memory: z.number().int().positive(),
  logRetentionDays: z.number().int().positive(),
});

export type FleetConfig = Readonly<z.infer<typeof fleetConfigSchema>>;

/** The `vchat-fleet:*` keys of a stack, as Pulumi stores them (strings). */
export const fleetConfigKeys = ["region", "vpcId", "subnetIds", "publicIp", "image", "redis", "redisNodeType", "redisUrl", "redisSecurityGroupId"] as const;
export type FleetOverrides = Partial<Record<(typeof fleetConfigKeys)[number], string>>;

/** The stack key of each setting under `redis`. */
const redisKeys: Record<string, string> = { "redis.url": "redisUrl", "redis.securityGroupId": "redisSecurityGroupId", "redis.nodeType": "redisNodeType" };

/**
 * The fleet's configuration from the stack's keys and the run's size; one `ConfigError` names
 * every missing or bad key.
 *
 * @example
 * resolveFleetConfig("eu", { vpcId: "vpc-…", subnetIds: "subnet-…,subnet-…", image: "…/vchat-dev:git-0ff11e0" }, fleetSize(plan))
 */
export function resolveFleetConfig(stack: string, o: FleetOverrides, size: FleetSize): FleetConfig {
  const problems: string[] = [];
  const mode = o.redis ?? "elasticache";
  if (mode !== "elasticache" && mode !== "external") problems.push(`vchat-fleet:redis must be elasticache or external, got "${mode}"`);
  if (mode === "external" && !o.redisUrl) problems.push("vchat-fleet:redisUrl is not set (pulumi config set --secret vchat-fleet:redisUrl rediss://...)");
  if (o.publicIp !== undefined && o.publicIp !== "true" && o.publicIp !== "false")
    problems.push(`vchat-fleet:publicIp must be true or false, got "${o.publicIp}"`);
  const raw = {
    stack,
    region: o.region ?? "eu-west-1",
    vpcId: o.vpcId,
    subnetIds: o.subnetIds
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    publicIp: o.publicIp !== "false",
    image: o.image,
    redis: mode === "external" ? { mode, url: o.redisUrl, securityGroupId: o.redisSecurityGroupId } : { mode, nodeType: o.redisNodeType ?? "cache.t4g.small" },
    workers: size.workers,
    cpu: size.cpu,
    memory: size.memory,
    logRetentionDays: 3,
  };
  const parsed = fleetConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const path = i.path.join(".");
      const key = redisKeys[path] ?? path.split(".")[0]!;
      if (key === "redisUrl" && o.redisUrl === undefined) continue; // said above
      problems.push(i.code === "invalid_type" && i.input === undefined ? `vchat-fleet:${key} is not set` : `vchat-fleet:${key} ${i.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success)
    throw new ConfigError(
      `fleet stack config for ${stack} is invalid:\n  ${problems.join("\n  ")}\nset values with: pulumi -C stacks/fleet config set --stack ${stack} vchat-fleet:<key> <value>`,
    );
  return Object.freeze(parsed.data);
}

/** Stack outputs; `coordinatorUrl` is a Pulumi secret (it carries the Redis password). */
export interface FleetOutputs {
  coordinatorUrl: pulumi.Output<string>;
  cluster: pulumi.Output<string>;
  service: pulumi.Output<string>;
  logGroup: pulumi.Output<string>;
  workers: number;
}

/** The ECR repository ARN an image URI names (`<account>.dkr.ecr.<region>.amazonaws.com/<name>:<tag>`). */
export function repositoryArn(image: string): string {
  const [host = "", ...rest] = image.split("/");
  const [account, , , repoRegion] = host.split(".");
  const repo = rest
    .join("/")
    .replace(/@sha256:[0-9a-f]+$/, "")
    .replace(/:[\w.-]+$/, "");
  return `arn:aws:ecr:${repoRegion}:${account}:repository/${repo}`;
}

/**
 * The worker's arguments to the image's entry point (`node cli/vchat.ts`). The coordinator's URL
 * comes in `VCHAT_BOTS_COORDINATOR` (out of process lists); a worker waits long enough for `up`
 * to finish on every other worker before the coordinator opens the run.
 */
export const workerCommand = ["bots", "worker", "--wait", "30m"];
export const coordinatorVariable = "VCHAT_BOTS_COORDINATOR";

/**
 * `vchat bots worker` tasks on Fargate with their coordination Redis, log group, roles and an
 * egress-only security group.
 */
export class BotFleet extends pulumi.ComponentResource {
  readonly outputs: FleetOutputs;

  constructor(name: string, args: { cfg: FleetConfig }, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:BotFleet", name, { workers: args.cfg.workers, cpu: args.cfg.cpu, memory: args.cfg.memory }, opts);
    const { cfg } = args;
    // The region comes from the stack's config: one stack per region (docs/fleet.md).
    const provider = new aws.Provider(
      `${name}-aws`,
      { region: cfg.region as aws.Region, defaultTags: { tags: { "vchat:fleet": cfg.stack } } },
      { parent: this },
    );
    const parent = { parent: this, provider };
    const tags = { "vchat:fleet": cfg.stack };

    const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: `/vchat/fleet/${cfg.stack}`, retentionInDays: cfg.logRetentionDays, tags }, parent);
    const cluster = new aws.ecs.Cluster(`${name}-cluster`, { settings: [{ name: "containerInsights", value: "disabled" }], tags }, parent);
    // The workers only call out: the service under test, TURN, the coordination Redis, ECR and logs.
    const sg = new aws.ec2.SecurityGroup(
      `${name}-sg`,
      {
        vpcId: cfg.vpcId,
        description: "vchat bots workers: outbound only",
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"], description: "outbound" }],
        tags: { ...tags, "vchat:role": "bots" },
      },
      parent,
    );
    const redisFromWorkers = (securityGroupId: pulumi.Input<string>) =>
      new aws.vpc.SecurityGroupIngressRule(
        `${name}-redis-from-workers`,
        {
          securityGroupId,
          referencedSecurityGroupId: sg.id,
          ipProtocol: "tcp",
          fromPort: redisPort,
          toPort: redisPort,
          description: "Redis from the bots workers",
        },
        parent,
      );

    let redisUrl: pulumi.Output<string>;
    if (cfg.redis.mode === "elasticache") {
      const redisSg = new aws.ec2.SecurityGroup(
        `${name}-redis-sg`,
        { vpcId: cfg.vpcId, description: "vchat bots coordination Redis: from the workers only", tags: { ...tags, "vchat:role": "redis" } },
        parent,
      );
      redisFromWorkers(redisSg.id);
      const subnets = new aws.elasticache.SubnetGroup(`${name}-redis-subnets`, { subnetIds: [...cfg.subnetIds], tags }, parent);
      const token = new random.RandomPassword(`${name}-redis-token`, { length: 64, special: false }, parent);
      const redis = new aws.elasticache.ReplicationGroup(
        `${name}-redis`,
        {
          description: `vchat bots fleet ${cfg.stack}: run coordination`,
          engine: "redis",
          engineVersion: "7.1",
          nodeType: cfg.redis.nodeType,
          // One run's records, gone with the fleet: nothing to fail over to or keep.
          numCacheClusters: 1,
          port: redisPort,
          subnetGroupName: subnets.name,
          securityGroupIds: [redisSg.id],
          transitEncryptionEnabled: true,
          transitEncryptionMode: "required",
          atRestEncryptionEnabled: true,
          authToken: token.result,
          snapshotRetentionLimit: 0,
          applyImmediately: true,
          tags,
        },
        parent,
      );
      redisUrl = pulumi.secret(pulumi.interpolate`rediss://:${token.result}@${redis.primaryEndpointAddress}:${redisPort}`);
    } else {
      if (cfg.redis.securityGroupId) redisFromWorkers(cfg.redis.securityGroupId);
      redisUrl = pulumi.secret(cfg.redis.url);
    }
    const secret = new aws.secretsmanager.Secret(
      `${name}-coordinator`,
      { name: `vchat-fleet-${cfg.stack}/coordinator-url`, description: "vchat bots fleet: the coordination Redis URL", recoveryWindowInDays: 0, tags },
      parent,
    );
    new aws.secretsmanager.SecretVersion(`${name}-coordinator-value`, { secretId: secret.id, secretString: redisUrl }, parent);

    // Least privilege. The execution role pulls the one image, writes the one log group and reads
    // the one secret; the task role (what the worker's code could use) has no policy at all.
    const assume = JSON.stringify(aws.iam.assumeRolePolicyForPrincipal({ Service: "ecs-tasks.amazonaws.com" }));
    const execRole = new aws.iam.Role(`${name}-exec-role`, { assumeRolePolicy: assume, tags }, parent);
    new aws.iam.RolePolicy(
      `${name}-exec-policy`,
      {
        role: execRole.id,
        policy: pulumi.all([logs.arn, secret.arn]).apply(([logArn, secretArn]) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              // Account-wide by AWS's design: the token only opens what the next statement allows.
              { Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: ["*"] },
              {
                Effect: "Allow",
                Action: ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                Resource: [repositoryArn(cfg.image)],
              },
              { Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: [`${logArn}:*`] },
              { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [secretArn] },
            ],
          }),
        ),
      },
      parent,
    );
    const taskRole = new aws.iam.Role(`${name}-task-role`, { assumeRolePolicy: assume, tags: { ...tags, "vchat:role": "no-permissions" } }, parent);

    const containerDefinitions = pulumi.all([logs.name, secret.arn]).apply(([logGroup, secretArn]) =>
      JSON.stringify([
        {
          name: "worker",
          image: cfg.image,
          essential: true,
          command: workerCommand,
          environment: [{ name: "VCHAT_LOG_LEVEL", value: "info" }],
          secrets: [{ name: coordinatorVariable, valueFrom: secretArn }],
          logConfiguration: { logDriver: "awslogs", options: { "awslogs-group": logGroup, "awslogs-region": cfg.region, "awslogs-stream-prefix": "worker" } },
          // The image's HEALTHCHECK asks /healthz, which a worker does not serve; ECS only runs
          // checks a task definition declares, and a worker's health is the coordinator's to judge.
          stopTimeout: 30,
        },
      ]),
    );
    const taskDef = fargateTaskDefinition(
      `${name}-task`,
      {
        family: `vchat-fleet-${cfg.stack}`,
        cpu: cfg.cpu,
        memory: cfg.memory,
        executionRoleArn: execRole.arn,
        taskRoleArn: taskRole.arn,
        containerDefinitions,
        tags,
      },
      parent,
    );
    // A service, not one-off tasks: `up` returns once all W workers run (steady state) and
    // fails when they crash-loop; a worker that dies is replaced and the coordinator decides
    // whether the run is still valid.
    const service = new aws.ecs.Service(
      `${name}-service`,
      {
        cluster: cluster.arn,
        taskDefinition: taskDef.arn,
        launchType: "FARGATE",
        desiredCount: cfg.workers,
        networkConfiguration: { subnets: [...cfg.subnetIds], securityGroups: [sg.id], assignPublicIp: cfg.publicIp },
        waitForSteadyState: true,
        deploymentCircuitBreaker: { enable: true, rollback: true },
        // Nobody is served: a resize replaces every worker at once.
        deploymentMinimumHealthyPercent: 0,
        deploymentMaximumPercent: 100,
        propagateTags: "SERVICE",
        tags,
      },
      parent,
    );

    this.outputs = { coordinatorUrl: redisUrl, cluster: cluster.name, service: service.name, logGroup: logs.name, workers: cfg.workers };
    this.registerOutputs({ ...this.outputs });
  }
}

/** The `vchat-fleet` program: one fleet per stack. */
export function fleetProgram(cfg: FleetConfig, opts?: pulumi.ComponentResourceOptions): FleetOutputs {
  return new BotFleet(`vchat-fleet-${cfg.stack}`, { cfg }, opts).outputs;
}

export const fleetOutputNames = ["coordinatorUrl", "cluster", "service", "logGroup", "workers"] as const;
