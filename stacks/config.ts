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

/**
 * Resource options for data that outlives `vchat down` when `retainData` (prod): `protect` makes
 * Pulumi refuse to delete it (`down` passes `--exclude-protected` and removes the rest),
 * `retainOnDelete` leaves it in the cloud even if someone unprotects and destroys.
 */
export function keepData(cfg: { retainData: boolean }): { protect: boolean; retainOnDelete: boolean } {
  return { protect: cfg.retainData, retainOnDelete: cfg.retainData };
}

/** A placeholder the offline preview uses where the operator must supply a value. */
export const offlinePlaceholder = "OFFLINE-PLACEHOLDER";

// A /16: the network lays out /24 subnets at x.y.0-2.0 (public) and x.y.100-102.0 (private).
const cidr = z.string().regex(/^\d{1,3}\.\d{1,3}\.0\.0\/16$/, "must be an IPv4 /16 like 10.20.0.0/16");
const acmArn = z
  .string()
  .regex(/^arn:aws:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/, "must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)");
const hostName = z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, "must be a DNS name like api.example.org");

/**
 * Whether a certificate with these names serves `host`: an exact name, or a wildcard standing
 * for exactly one label (`*.example.org` covers `api.example.org`, not `a.b.example.org`).
 */
export function certificateCovers(names: readonly string[], host: string): boolean {
  const h = host.toLowerCase();
  return names.some((n) => {
    const name = n.toLowerCase();
    if (!name.startsWith("*.")) return name === h;
    const dot = h.indexOf(".");
    return dot > 0 && h.slice(dot + 1) === name.slice(2);
  });
}

/** The region an ACM certificate ARN lives in. */
export function certificateRegion(arn: string): string {
  return arn.split(":")[3] ?? "";
}

/**
 * A content tag for the service image: the git commit it was built from, its digest, or the
 * digest of its build context (`src-`, what `vchat up` tags its own builds with). Tags
 * like `latest` move, so `up` could not tell a new image from the old one and rollbacks would
 * go nowhere; the repository is immutable and refuses to overwrite a tag anyway.
 */
export const contentTag = /^(git-[0-9a-f]{7,40}|sha256-[0-9a-f]{64}|src-[0-9a-f]{16})$/;

/** An image reference pinned to its content: `…@sha256:<digest>`, or a content tag (`repo:git-<commit>`). */
const pinnedImage = z
  .string()
  .refine(
    (ref) => /@sha256:[0-9a-f]{64}$/.test(ref) || contentTag.test(/:([\w.-]+)$/.exec(ref.split("/").pop() ?? "")?.[1] ?? ""),
    "must be pinned by digest (…@sha256:<digest>) or by a content tag (…:git-<commit>, …:sha256-<digest>), never a moving tag like latest",
  );

export const envConfigSchema = z.object({
  env: z.enum(environments),
  /** AWS region, e.g. `eu-west-1`. */
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, "must be an AWS region like eu-west-1"),
  /** Availability zones used; two at least so every tier survives losing one. */
  azCount: z.number().int().min(2).max(3),
  vpcCidr: cidr,
  /** `single` NAT gateway (cheap, dev) or one per AZ (prod, no cross-AZ single point). */
  natGateways: z.enum(["single", "per-az"]),
  /** Interface endpoints for ECR, CloudWatch Logs and Secrets Manager (pay off with per-AZ NAT and steady pulls); the S3 gateway endpoint is always there (free). */
  interfaceEndpoints: z.boolean(),
  /** The API's host name, covered by `certificateArn`; browsers refuse the load balancer's own name. DNS records are the operator's. */
  apiDomain: hostName,
  /** The web client's host name, with `webCertificateArn`; without both, CloudFront's own name and certificate. */
  webDomain: hostName.optional(),
  /** Host name clients use for TURN (a CNAME to the NLB). With it, TLS TURN (`turns:`) on 5349 and 443 with `certificateArn`; without, plain TURN only. */
  turnDomain: hostName.optional(),
  /** ACM certificate in the stack's region for the API and the TURN TLS listeners. */
  certificateArn: acmArn,
  /** ACM certificate in us-east-1 (CloudFront's) for `webDomain`. */
  webCertificateArn: acmArn.optional(),
  service: z.object({
    /** A given image to run instead of building the checkout's Dockerfile (the default). */
    image: pinnedImage.optional(),
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
    /** ECS Container Insights (per-task metrics, ~$ per task-month): prod only by default. */
    containerInsights: z.boolean(),
  }),
  turn: z.object({
    instanceType: z.string().min(1),
    minInstances: z.number().int().min(1),
    maxInstances: z.number().int().min(1),
    /** Container image of coturn, pinned to a version (tag `X.Y.Z...`, optionally `@sha256:` digest). */
    coturnImage: z.string().regex(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*(@sha256:[0-9a-f]{64})?$/, "must pin a version, e.g. coturn/coturn:4.10.0@sha256:<digest>"),
    /** Docker Hub credentials (Secrets Manager, name `ecr-pullthroughcache/...`) for the ECR pull-through cache; without, instances pull from Docker Hub. */
    dockerHubCredentialArn: z
      .string()
      .regex(
        /^arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache\/[\w/+=.@-]+$/,
        "must be a Secrets Manager ARN whose name starts with ecr-pullthroughcache/",
      )
      .optional(),
    realm: z.string().min(1),
    minPort: z.number().int().min(1024).max(65535),
    maxPort: z.number().int().min(1024).max(65535),
    /** TCP relays (RFC 6062) let any credential holder open TCP connections to any host from our addresses; browsers never need them. */
    allowTcpRelay: z.boolean(),
    /** Bytes per second per TURN session (coturn `max-bps`); a 1:1 HD call needs ~300 KB/s each way. */
    maxBpsPerSession: z.number().int().positive(),
    /** Bytes per second one instance hands out to all sessions (coturn `bps-capacity`), below the instance's network baseline. */
    bpsCapacity: z.number().int().positive(),
    /** Allocations per user name and per server (coturn `user-quota`, `total-quota`). */
    userQuota: z.number().int().positive(),
    totalQuota: z.number().int().positive(),
    /** Longest wait for allocations to end when an instance is scaled in (lifecycle heartbeat). */
    drainTimeoutSeconds: z.number().int().min(120).max(7200),
    /** Target average NetworkOut bytes per instance per minute for target tracking. */
    scaleOnNetworkOutBytes: z.number().positive(),
    /** Alarm when the TURN fleet sends more than this many GB in an hour (relayed media is the bill). */
    alarmNetworkOutGbPerHour: z.number().positive(),
    /** Attach the SSM managed policy for Session Manager shells (there is no SSH). */
    ssmAccess: z.boolean(),
  }),
  redis: z.object({
    nodeType: z.string().min(1),
    /** Primary plus replicas; with 2 or more, Multi-AZ with automatic failover. */
    nodes: z.number().int().min(1).max(6),
    engineVersion: z.string().regex(/^7(\.\d+)?$/, "must be Redis 7.x"),
  }),
  atlas: z.object({
    orgId: z.string().min(1),
    instanceSize: z.string().regex(/^M\d+$/, "must be a dedicated tier like M10 (shared tiers have no network peering or backups)"),
    mongoVersion: z.string().regex(/^\d+\.\d+$/),
    backup: z.boolean(),
  }),
  /** Monthly AWS budget in USD; alerts at 80 % forecast and 100 % actual. */
  monthlyBudgetUsd: z.number().positive(),
  /** Who gets the budget and TURN traffic alerts; without, the alarms only show in the console. */
  alertEmail: z.string().email().optional(),
  /** The managed alternative of the architecture: a Kinesis Video Streams signaling channel. */
  kinesisSignaling: z.boolean(),
  /**
   * Keep the data on `vchat down` (prod): Atlas, Redis (with a final snapshot), the web bucket,
   * the image repository and the secrets are protected and retained; `down` removes the rest.
   */
  retainData: z.boolean(),
});

export type EnvConfig = Readonly<z.infer<typeof envConfigSchema>>;

type Preset = Omit<z.input<typeof envConfigSchema>, "certificateArn" | "apiDomain" | "atlas"> & {
  atlas: Omit<z.input<typeof envConfigSchema>["atlas"], "orgId">;
};

const common = {
  region: "eu-west-1",
  service: { port: 8080, idleTimeoutSeconds: 120 },
  turn: {
    coturnImage: "coturn/coturn:4.10.0",
    realm: "vchat",
    minPort: 49152,
    maxPort: 65535,
    allowTcpRelay: false,
    // ~4 Mbit/s per session: an HD call with headroom, not a bulk pipe.
    maxBpsPerSession: 500_000,
    userQuota: 12,
    drainTimeoutSeconds: 3600,
    ssmAccess: false,
  },
  kinesisSignaling: false,
} as const;

/**
 * Presets: dev is the smallest that still runs every tier (one NAT, one Redis node, the
 * smallest Fargate task and TURN instance; see docs/stacks.md for the cost), prod spreads over
 * three AZs and keeps its data.
 */
export const presets: Record<EnvName, Preset> = {
  dev: {
    ...common,
    env: "dev",
    azCount: 2,
    vpcCidr: "10.20.0.0/16",
    natGateways: "single",
    interfaceEndpoints: false,
    service: { ...common.service, cpu: 256, memory: 512, minTasks: 1, maxTasks: 2, containerInsights: false },
    // t3.micro: 0.064 Gbit/s baseline (~8 MB/s): a dozen test calls; coturn gets most of it.
    turn: {
      ...common.turn,
      instanceType: "t3.micro",
      minInstances: 1,
      maxInstances: 2,
      bpsCapacity: 6_000_000,
      totalQuota: 500,
      scaleOnNetworkOutBytes: 500_000_000,
      alarmNetworkOutGbPerHour: 20,
    },
    redis: { nodeType: "cache.t4g.micro", nodes: 1, engineVersion: "7.1" },
    atlas: { instanceSize: "M10", mongoVersion: "8.0", backup: false },
    monthlyBudgetUsd: 150,
    retainData: false,
  },
  prod: {
    ...common,
    env: "prod",
    azCount: 3,
    vpcCidr: "10.30.0.0/16",
    natGateways: "per-az",
    interfaceEndpoints: true,
    service: { ...common.service, cpu: 1024, memory: 2048, minTasks: 2, maxTasks: 10, containerInsights: true },
    // c6in.large: 3.125 Gbit/s baseline (~390 MB/s); leave a quarter for bursts and the OS.
    turn: {
      ...common.turn,
      instanceType: "c6in.large",
      minInstances: 2,
      maxInstances: 10,
      bpsCapacity: 290_000_000,
      totalQuota: 5000,
      scaleOnNetworkOutBytes: 3_000_000_000,
      alarmNetworkOutGbPerHour: 500,
    },
    redis: { nodeType: "cache.r7g.large", nodes: 3, engineVersion: "7.1" },
    atlas: { instanceSize: "M30", mongoVersion: "8.0", backup: true },
    monthlyBudgetUsd: 3000,
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
  image?: string;
  coturnImage?: string;
  dockerHubCredentialArn?: string;
  turnAllowTcpRelay?: string;
  turnMaxBpsPerSession?: string;
  turnBpsCapacity?: string;
  monthlyBudgetUsd?: string;
  alertEmail?: string;
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
  "image",
  "coturnImage",
  "dockerHubCredentialArn",
  "turnAllowTcpRelay",
  "turnMaxBpsPerSession",
  "turnBpsCapacity",
  "monthlyBudgetUsd",
  "alertEmail",
  "kinesisSignaling",
  "turnSsmAccess",
] as const satisfies readonly (keyof ConfigOverrides)[];

/**
 * What a fresh stack must set (`pulumi config set vchat:<key>`), with an example each: exactly
 * the list in docs/stacks.md, and the keys `stacks/Pulumi.yaml` declares without a default.
 * Everything else has a preset.
 */
export const requiredKeys = {
  certificateArn: "arn:aws:acm:<region>:<account>:certificate/<id>",
  apiDomain: "api.example.org",
  atlasOrgId: "<Atlas organisation id>",
} as const satisfies Partial<Record<keyof ConfigOverrides, string>>;

/** Pulumi config key of each schema path, for messages that say what to set. */
const keyOfPath: Record<string, string> = {
  region: "region",
  apiDomain: "apiDomain",
  webDomain: "webDomain",
  turnDomain: "turnDomain",
  certificateArn: "certificateArn",
  webCertificateArn: "webCertificateArn",
  "service.image": "image",
  "turn.coturnImage": "coturnImage",
  "turn.dockerHubCredentialArn": "dockerHubCredentialArn",
  "turn.maxBpsPerSession": "turnMaxBpsPerSession",
  "turn.bpsCapacity": "turnBpsCapacity",
  "atlas.orgId": "atlasOrgId",
  monthlyBudgetUsd: "monthlyBudgetUsd",
  alertEmail: "alertEmail",
};

export class ConfigError extends Error {
  override name = "ConfigError";
  code = "STACK_CONFIG_INVALID" as const;
}

/** Reads a boolean or a number from Pulumi's string config; a bad value becomes a problem line. */
function parser(problems: string[]) {
  return {
    bool(key: string, text: string | undefined): boolean | undefined {
      if (text === undefined || text === "true" || text === "false") return text === undefined ? undefined : text === "true";
      problems.push(`vchat:${key} must be true or false, got "${text}"`);
      return undefined;
    },
    num(key: string, text: string | undefined): number | undefined {
      if (text === undefined) return undefined;
      const n = Number(text);
      if (text.trim() !== "" && Number.isFinite(n)) return n;
      problems.push(`vchat:${key} must be a number, got "${text}"`);
      return undefined;
    },
  };
}

/**
 * Builds the frozen configuration of `env` from its preset and the operator's overrides.
 * Throws one `ConfigError` naming every missing or bad key, each with the `vchat:` key to set.
 *
 * @example
 * const cfg = resolveEnvConfig("dev", { certificateArn: "arn:aws:acm:eu-west-1:...", apiDomain: "api.example.org", atlasOrgId: "5f..." });
 */
export function resolveEnvConfig(env: EnvName, o: ConfigOverrides): EnvConfig {
  const p = presets[env];
  const problems: string[] = [];
  const { bool, num } = parser(problems);
  const raw = {
    ...p,
    region: o.region ?? p.region,
    certificateArn: o.certificateArn,
    webCertificateArn: o.webCertificateArn,
    apiDomain: o.apiDomain,
    webDomain: o.webDomain,
    turnDomain: o.turnDomain,
    service: { ...p.service, image: o.image },
    turn: {
      ...p.turn,
      coturnImage: o.coturnImage ?? p.turn.coturnImage,
      dockerHubCredentialArn: o.dockerHubCredentialArn,
      allowTcpRelay: bool("turnAllowTcpRelay", o.turnAllowTcpRelay) ?? p.turn.allowTcpRelay,
      maxBpsPerSession: num("turnMaxBpsPerSession", o.turnMaxBpsPerSession) ?? p.turn.maxBpsPerSession,
      bpsCapacity: num("turnBpsCapacity", o.turnBpsCapacity) ?? p.turn.bpsCapacity,
      ssmAccess: bool("turnSsmAccess", o.turnSsmAccess) ?? p.turn.ssmAccess,
    },
    atlas: { ...p.atlas, orgId: o.atlasOrgId },
    monthlyBudgetUsd: num("monthlyBudgetUsd", o.monthlyBudgetUsd) ?? p.monthlyBudgetUsd,
    alertEmail: o.alertEmail,
    kinesisSignaling: bool("kinesisSignaling", o.kinesisSignaling) ?? p.kinesisSignaling,
  };
  const parsed = envConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      const path = i.path.join(".");
      const key = keyOfPath[path];
      const missing = i.code === "invalid_type" && i.input === undefined;
      const example = key && key in requiredKeys ? requiredKeys[key as keyof typeof requiredKeys] : undefined;
      problems.push(
        key
          ? `vchat:${key} ${missing ? "is not set" : i.message}${missing && example ? ` (pulumi config set vchat:${key} ${example})` : ""}`
          : `${path}: ${i.message}`,
      );
    }
  }
  // Checked on the raw values too, so one run names every problem, not one layer at a time.
  problems.push(...crossChecks(raw));
  const cfg = parsed.success ? parsed.data : undefined;
  if (problems.length > 0 || !cfg) throw new ConfigError(`stack config for ${env} is invalid:\n  ${problems.join("\n  ")}`);
  return deepFreeze(cfg);
}

/** Rules between settings; each problem names the keys to change. */
function crossChecks(cfg: Preset & { certificateArn?: string; webCertificateArn?: string; webDomain?: string }): string[] {
  const out: string[] = [];
  if (cfg.turn.minPort > cfg.turn.maxPort) out.push("turn.minPort must not exceed turn.maxPort");
  if (cfg.turn.minInstances > cfg.turn.maxInstances) out.push("turn.minInstances must not exceed turn.maxInstances");
  if (cfg.service.minTasks > cfg.service.maxTasks) out.push("service.minTasks must not exceed service.maxTasks");
  if (cfg.turn.maxBpsPerSession > cfg.turn.bpsCapacity) out.push("vchat:turnMaxBpsPerSession must not exceed vchat:turnBpsCapacity");
  // The ALB and the NLB present this certificate: it must live in their region.
  if (cfg.certificateArn && certificateRegion(cfg.certificateArn) !== cfg.region) {
    out.push(
      `vchat:certificateArn is in ${certificateRegion(cfg.certificateArn)}, but the load balancers are in ${cfg.region}: request or import the certificate there`,
    );
  }
  // CloudFront only takes certificates from us-east-1.
  if (cfg.webCertificateArn && certificateRegion(cfg.webCertificateArn) !== "us-east-1") {
    out.push(`vchat:webCertificateArn is in ${certificateRegion(cfg.webCertificateArn)}; CloudFront needs a certificate in us-east-1`);
  }
  if (!!cfg.webDomain !== !!cfg.webCertificateArn)
    out.push("vchat:webDomain and vchat:webCertificateArn go together: set both (CloudFront serves the name with that certificate) or neither");
  const version = /:(\d+\.\d+\.\d+)/.exec(cfg.turn.coturnImage)?.[1] ?? "0.0.0";
  if (compareVersions(version, minCoturnVersion) < 0) {
    out.push(`vchat:coturnImage ${cfg.turn.coturnImage} is older than ${minCoturnVersion}: earlier coturn lets IPv4-mapped IPv6 peers bypass denied-peer-ip`);
  }
  // prod boots TURN instances from the region's ECR, never from Docker Hub anonymously (rate
  // limits and outages there would turn into ASG replacement loops); AWS needs Docker Hub
  // credentials for a pull-through cache.
  if (cfg.retainData && !cfg.turn.dockerHubCredentialArn) {
    out.push(
      `vchat:dockerHubCredentialArn is not set: ${cfg.env} pulls coturn through an ECR pull-through cache, which needs Docker Hub credentials in a Secrets Manager secret named ecr-pullthroughcache/... (pulumi config set vchat:dockerHubCredentialArn <arn>)`,
    );
  }
  if (cfg.retainData && !cfg.turn.coturnImage.includes("@sha256:")) {
    out.push(
      `vchat:coturnImage must be pinned by digest in ${cfg.env} (a tag can be moved under us): e.g. ${cfg.turn.coturnImage}@sha256:<digest from docker buildx imagetools inspect ${cfg.turn.coturnImage}>`,
    );
  }
  return out;
}

/** The configuration `vchat preview --offline` and the tests use: presets plus placeholders. */
export function offlineEnvConfig(env: EnvName, o: ConfigOverrides = {}): EnvConfig {
  return resolveEnvConfig(env, {
    certificateArn: `arn:aws:acm:${o.region ?? presets[env].region}:123456789012:certificate/${offlinePlaceholder}`,
    apiDomain: `api.${env}.example.org`,
    turnDomain: `turn.${env}.example.org`,
    atlasOrgId: offlinePlaceholder,
    ...(presets[env].retainData
      ? {
          coturnImage: `${presets[env].turn.coturnImage}@sha256:${"0".repeat(64)}`,
          dockerHubCredentialArn: `arn:aws:secretsmanager:${o.region ?? presets[env].region}:123456789012:secret:ecr-pullthroughcache/${offlinePlaceholder}`,
        }
      : {}),
    ...o,
  });
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
