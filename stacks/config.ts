/**
 * One typed, frozen configuration per environment. The Pulumi program only reads this object:
 * `vchat up` fills it from the stack's Pulumi config (`vchat:*` keys) over the presets below,
 * `vchat preview --offline` fills it from the presets with placeholders for what only an
 * operator can supply (certificate ARNs, the Atlas organisation).
 */
import { z } from "zod";

export const environments = ["dev", "prod"] as const;
export type EnvName = (typeof environments)[number];

/** Socket.IO's default heartbeat: `pingInterval` 25 s + `pingTimeout` 20 s. */
export const socketIoHeartbeatSeconds = 45;

/** The oldest coturn the cloud may run: 4.9 fixed IPv4-mapped IPv6 peers slipping past `denied-peer-ip`. */
export const minCoturnVersion = "4.9.0";

/** A placeholder the offline preview uses where the operator must supply a value. */
export const offlinePlaceholder = "OFFLINE-PLACEHOLDER";

// A /16: the network lays out /24 subnets at x.y.0-2.0 (public) and x.y.100-102.0 (private).
const cidr = z.string().regex(/^\d{1,3}\.\d{1,3}\.0\.0\/16$/, "must be an IPv4 /16 like 10.20.0.0/16");
const acmArn = z.string().regex(/^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/, "must be an ACM certificate ARN");

export const envConfigSchema = z.object({
  env: z.enum(environments),
  /** AWS region, e.g. `eu-west-1`. */
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "must be an AWS region like eu-west-1"),
  /** Availability zones used; two at least so every tier survives losing one. */
  azCount: z.number().int().min(2).max(3),
  vpcCidr: cidr,
  /** `single` NAT gateway (cheap, dev) or one per AZ (prod, no cross-AZ single point). */
  natGateways: z.enum(["single", "per-az"]),
  /** Host names; the DNS records themselves are left to the operator (see docs/stacks.md). */
  apiDomain: z.string().min(1).optional(),
  webDomain: z.string().min(1).optional(),
  /** Host name clients use for TURN (a CNAME to the NLB, covered by `certificateArn` for TLS). */
  turnDomain: z.string().min(1).optional(),
  /** ACM certificate (ALB's region) for the API and the TURN TLS listeners. */
  certificateArn: acmArn,
  /** ACM certificate in us-east-1 for CloudFront; the CloudFront default certificate when absent. */
  webCertificateArn: acmArn.optional(),
  service: z.object({
    /** Image tag in the stack's ECR repository. */
    imageTag: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/),
    port: z.number().int().min(1024).max(65535),
    cpu: z.number().int().positive(),
    memory: z.number().int().positive(),
    minTasks: z.number().int().min(1),
    maxTasks: z.number().int().min(1),
    /** ALB idle timeout; must stay above the Socket.IO heartbeat or idle sockets get cut. */
    idleTimeoutSeconds: z
      .number()
      .int()
      .min(socketIoHeartbeatSeconds + 1)
      .max(4000),
  }),
  turn: z.object({
    instanceType: z.string().min(1),
    minInstances: z.number().int().min(1),
    maxInstances: z.number().int().min(1),
    /** Container image of coturn, pinned to a version (tag `X.Y.Z...` or a digest). */
    coturnImage: z.string().regex(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$/, "must pin a version, e.g. coturn/coturn:4.10.0"),
    realm: z.string().min(1),
    minPort: z.number().int().min(1024).max(65535),
    maxPort: z.number().int().min(1024).max(65535),
    /** Longest wait for allocations to end when an instance is scaled in (lifecycle heartbeat). */
    drainTimeoutSeconds: z.number().int().min(120).max(7200),
    /** Target average NetworkOut bytes per instance per minute for target tracking. */
    scaleOnNetworkOutBytes: z.number().positive(),
    /** Attach the SSM managed policy for Session Manager shells (there is no SSH). */
    ssmAccess: z.boolean(),
  }),
  redis: z.object({
    nodeType: z.string().min(1),
    /** Primary plus replicas; 2 at least for Multi-AZ failover. */
    nodes: z.number().int().min(2).max(6),
    engineVersion: z.string().regex(/^7(\.\d+)?$/, "must be Redis 7.x"),
  }),
  atlas: z.object({
    orgId: z.string().min(1),
    instanceSize: z.string().regex(/^M\d+$/, "must be a dedicated tier like M10 (shared tiers have no network peering or backups)"),
    mongoVersion: z.string().regex(/^\d+\.\d+$/),
    backup: z.boolean(),
  }),
  /** The managed alternative of the architecture: a Kinesis Video Streams signaling channel. */
  kinesisSignaling: z.boolean(),
  /** Keep data (S3, Redis snapshots) on `vchat down`: prod yes, dev no. */
  retainData: z.boolean(),
});

export type EnvConfig = Readonly<z.infer<typeof envConfigSchema>>;

type Preset = Omit<z.input<typeof envConfigSchema>, "certificateArn" | "atlas"> & {
  atlas: Omit<z.input<typeof envConfigSchema>["atlas"], "orgId">;
};

const common = {
  region: "eu-west-1",
  service: { imageTag: "latest", port: 8080, cpu: 512, memory: 1024, idleTimeoutSeconds: 120 },
  turn: {
    coturnImage: "coturn/coturn:4.10.0",
    realm: "vchat",
    minPort: 49152,
    maxPort: 65535,
    drainTimeoutSeconds: 3600,
    ssmAccess: false,
  },
  kinesisSignaling: false,
} as const;

/** Presets: dev is small and cheap, prod spreads over three AZs and keeps its data. */
export const presets: Record<EnvName, Preset> = {
  dev: {
    ...common,
    env: "dev",
    azCount: 2,
    vpcCidr: "10.20.0.0/16",
    natGateways: "single",
    service: { ...common.service, minTasks: 1, maxTasks: 2 },
    turn: { ...common.turn, instanceType: "t3.small", minInstances: 1, maxInstances: 2, scaleOnNetworkOutBytes: 500_000_000 },
    redis: { nodeType: "cache.t4g.micro", nodes: 2, engineVersion: "7.1" },
    atlas: { instanceSize: "M10", mongoVersion: "8.0", backup: false },
    retainData: false,
  },
  prod: {
    ...common,
    env: "prod",
    azCount: 3,
    vpcCidr: "10.30.0.0/16",
    natGateways: "per-az",
    service: { ...common.service, cpu: 1024, memory: 2048, minTasks: 2, maxTasks: 10 },
    turn: { ...common.turn, instanceType: "c6in.large", minInstances: 2, maxInstances: 10, scaleOnNetworkOutBytes: 3_000_000_000 },
    redis: { nodeType: "cache.r7g.large", nodes: 3, engineVersion: "7.1" },
    atlas: { instanceSize: "M30", mongoVersion: "8.0", backup: true },
    retainData: true,
  },
};

/** What an operator sets per stack (`pulumi config set vchat:<key>`), all strings as Pulumi stores them. */
export interface ConfigOverrides {
  region?: string;
  certificateArn?: string;
  webCertificateArn?: string;
  apiDomain?: string;
  webDomain?: string;
  turnDomain?: string;
  atlasOrgId?: string;
  imageTag?: string;
  coturnImage?: string;
  kinesisSignaling?: string;
  turnSsmAccess?: string;
}

/** The config keys `vchat up` reads from the stack, for messages and the Automation program. */
export const configKeys = [
  "region",
  "certificateArn",
  "webCertificateArn",
  "apiDomain",
  "webDomain",
  "turnDomain",
  "atlasOrgId",
  "imageTag",
  "coturnImage",
  "kinesisSignaling",
  "turnSsmAccess",
] as const satisfies readonly (keyof ConfigOverrides)[];

export class ConfigError extends Error {
  override name = "ConfigError";
  code = "STACK_CONFIG_INVALID" as const;
}

function bool(key: string, text: string | undefined): boolean | undefined {
  if (text === undefined) return undefined;
  if (text === "true") return true;
  if (text === "false") return false;
  throw new ConfigError(`vchat:${key} must be true or false, got "${text}"`);
}

/**
 * Builds the frozen configuration of `env` from its preset and the operator's overrides.
 * Throws `ConfigError` naming every missing or bad key.
 *
 * @example
 * const cfg = resolveEnvConfig("dev", { certificateArn: "arn:aws:acm:...", atlasOrgId: "5f..." });
 */
export function resolveEnvConfig(env: EnvName, o: ConfigOverrides): EnvConfig {
  const p = presets[env];
  const raw = {
    ...p,
    region: o.region ?? p.region,
    certificateArn: o.certificateArn,
    webCertificateArn: o.webCertificateArn,
    apiDomain: o.apiDomain,
    webDomain: o.webDomain,
    turnDomain: o.turnDomain,
    service: { ...p.service, imageTag: o.imageTag ?? p.service.imageTag },
    turn: { ...p.turn, coturnImage: o.coturnImage ?? p.turn.coturnImage, ssmAccess: bool("turnSsmAccess", o.turnSsmAccess) ?? p.turn.ssmAccess },
    atlas: { ...p.atlas, orgId: o.atlasOrgId },
    kinesisSignaling: bool("kinesisSignaling", o.kinesisSignaling) ?? p.kinesisSignaling,
  };
  const parsed = envConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const key = i.path.join(".");
      const hint =
        key === "certificateArn"
          ? " (pulumi config set vchat:certificateArn arn:aws:acm:...)"
          : key === "atlas.orgId"
            ? " (pulumi config set vchat:atlasOrgId <org id>)"
            : "";
      return `${key}: ${i.message}${hint}`;
    });
    throw new ConfigError(`stack config for ${env} is invalid:\n  ${problems.join("\n  ")}`);
  }
  const cfg = parsed.data;
  if (cfg.turn.minPort > cfg.turn.maxPort) throw new ConfigError("turn.minPort must not exceed turn.maxPort");
  if (cfg.turn.minInstances > cfg.turn.maxInstances) throw new ConfigError("turn.minInstances must not exceed turn.maxInstances");
  if (cfg.service.minTasks > cfg.service.maxTasks) throw new ConfigError("service.minTasks must not exceed service.maxTasks");
  if (compareVersions(coturnVersionOf(cfg.turn.coturnImage), minCoturnVersion) < 0) {
    throw new ConfigError(
      `coturnImage ${cfg.turn.coturnImage} is older than ${minCoturnVersion}: earlier coturn lets IPv4-mapped IPv6 peers bypass denied-peer-ip`,
    );
  }
  return deepFreeze(cfg);
}

/** The configuration `vchat preview --offline` and the tests use: presets plus placeholders. */
export function offlineEnvConfig(env: EnvName, o: ConfigOverrides = {}): EnvConfig {
  return resolveEnvConfig(env, {
    certificateArn: `arn:aws:acm:${o.region ?? presets[env].region}:123456789012:certificate/${offlinePlaceholder}`,
    atlasOrgId: offlinePlaceholder,
    ...o,
  });
}

/** `coturn/coturn:4.10.0-alpine` → `4.10.0`. */
export function coturnVersionOf(image: string): string {
  const m = /:(\d+\.\d+\.\d+)/.exec(image);
  if (!m?.[1]) throw new ConfigError(`coturnImage ${image} does not pin a version`);
  return m[1];
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** `10.20.0.0/16` → `10.20.0.0-10.20.255.255`, the range form coturn's `denied-peer-ip` takes. */
export function cidrToRange(block: string): string {
  const [ip, bitsText] = block.split("/");
  const bits = Number(bitsText);
  const n = (ip ?? "").split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
  const size = 2 ** (32 - bits);
  const start = n - (n % size);
  const end = start + size - 1;
  const dotted = (x: number) => [24, 16, 8, 0].map((s) => Math.floor(x / 2 ** s) % 256).join(".");
  return `${dotted(start)}-${dotted(end)}`;
}

/** `eu-west-1` → `EU_WEST_1`, Atlas's name for the same AWS region. */
export function atlasRegionName(region: string): string {
  return region.toUpperCase().replace(/-/g, "_");
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
