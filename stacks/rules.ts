/**
 * Security rules as exported predicates over plain resource records (type + input properties).
 * The same functions check the mocked program in the tests, the offline preview, and real
 * deployments through the policy pack in `stacks/policy/` that `vchat up` applies.
 * Pure: no Pulumi imports, so the policy pack can load this file as is.
 */
import { coturnConfig, type CoturnOptions } from "../turn/coturn-config.ts";
import { compareVersions, minCoturnVersion } from "./config.ts";

export interface ResourceRecord {
  type: string;
  name: string;
  /** Physical id where known (mocks, stack-level policy checks). */
  id?: string;
  /** Input properties as the engine sees them; `undefined` where still unknown (preview). */
  props: Record<string, unknown>;
  /** The `protect` resource option. */
  protect?: boolean;
  /** Stack (environment) name, from the URN: prod-only rules use it. */
  stack?: string;
}

export interface RuleViolation {
  rule: string;
  resource: string;
  message: string;
}

export interface SecurityRule {
  /** Stable id, used as the policy name. */
  name: string;
  description: string;
  /** Per resource: a message per problem found, empty when fine. */
  check?(r: ResourceRecord): string[];
  /** Across the stack (rules that relate resources), same contract. */
  checkStack?(all: ResourceRecord[]): RuleViolation[];
}

const T = {
  sg: "aws:ec2/securityGroup:SecurityGroup",
  sgRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
  ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
  redisGroup: "aws:elasticache/replicationGroup:ReplicationGroup",
  cacheCluster: "aws:elasticache/cluster:Cluster",
  launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
  instance: "aws:ec2/instance:Instance",
  bucket: "aws:s3/bucket:Bucket",
  bucketV2: "aws:s3/bucketV2:BucketV2",
  publicAccessBlock: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  bucketAcl: "aws:s3/bucketAclV2:BucketAclV2",
  distribution: "aws:cloudfront/distribution:Distribution",
  listener: "aws:lb/listener:Listener",
  loadBalancer: "aws:lb/loadBalancer:LoadBalancer",
  taskDefinition: "aws:ecs/taskDefinition:TaskDefinition",
  repository: "aws:ecr/repository:Repository",
  secret: "aws:secretsmanager/secret:Secret",
  atlasAccess: "mongodbatlas:index/projectIpAccessList:ProjectIpAccessList",
  atlasProject: "mongodbatlas:index/project:Project",
  atlasCluster: "mongodbatlas:index/advancedCluster:AdvancedCluster",
  budget: "aws:budgets/budget:Budget",
  alarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  turnComponent: "vchat:stacks:Turn",
  listenerRule: "aws:lb/listenerRule:ListenerRule",
  ecsService: "aws:ecs/service:Service",
  vpcEndpoint: "aws:ec2/vpcEndpoint:VpcEndpoint",
  asg: "aws:autoscaling/group:Group",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  rolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
} as const;
export const resourceTypes = T;

const anywhere = new Set(["0.0.0.0/0", "::/0"]);

interface Ingress {
  protocol: string;
  from: number;
  to: number;
  cidrs: string[];
  /** Managed prefix lists it admits (CloudFront's origin-facing addresses, ...). */
  prefixLists: string[];
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
function num(v: unknown, fallback: number): number {
  return typeof v === "number" ? v : typeof v === "string" && v !== "" && !Number.isNaN(Number(v)) ? Number(v) : fallback;
}

/** Every ingress permission a resource declares, normalised. */
export function ingressOf(r: ResourceRecord): Ingress[] {
  const p = r.props;
  const norm = (protocol: string) => (protocol === "all" ? "-1" : protocol === "6" ? "tcp" : protocol === "17" ? "udp" : protocol.toLowerCase());
  if (r.type === T.sg) {
    return asArray(p.ingress).map((e) => {
      const i = (e ?? {}) as Record<string, unknown>;
      return {
        protocol: norm(str(i.protocol)),
        from: num(i.fromPort, 0),
        to: num(i.toPort, 65535),
        cidrs: [...asArray(i.cidrBlocks), ...asArray(i.ipv6CidrBlocks)].map(str),
        prefixLists: asArray(i.prefixListIds).map(str),
      };
    });
  }
  if (r.type === T.sgRule && p.type === "ingress") {
    return [
      {
        protocol: norm(str(p.protocol)),
        from: num(p.fromPort, 0),
        to: num(p.toPort, 65535),
        cidrs: [...asArray(p.cidrBlocks), ...asArray(p.ipv6CidrBlocks)].map(str),
        prefixLists: asArray(p.prefixListIds).map(str),
      },
    ];
  }
  if (r.type === T.ingressRule) {
    return [
      {
        protocol: norm(str(p.ipProtocol)),
        from: num(p.fromPort, 0),
        to: num(p.toPort, 65535),
        cidrs: [str(p.cidrIpv4), str(p.cidrIpv6)].filter(Boolean),
        prefixLists: [str(p.prefixListId)].filter(Boolean),
      },
    ];
  }
  return [];
}

const covers = (i: Ingress, port: number) => i.protocol === "-1" || (i.from <= port && port <= i.to);

/** Ports the internet may reach: the web entry points, TURN's listeners, and the UDP relay range. */
export function internetIngressAllowed(i: Ingress): boolean {
  if (i.protocol === "tcp" && i.from === i.to && [80, 443, 3478, 5349].includes(i.from)) return true;
  if (i.protocol === "udp" && i.from === 3478 && i.to === 3478) return true;
  // Relay range: a part of the IANA dynamic range (coturn's default 49152-65535).
  if (i.protocol === "udp" && i.from >= 49152 && i.to <= 65535 && i.from <= i.to) return true;
  return false;
}

/** The peer ranges a cloud coturn must deny (besides whatever else it denies). */
export const requiredDeniedPeers = [
  "10.0.0.0-10.255.255.255",
  "172.16.0.0-172.31.255.255",
  "192.168.0.0-192.168.255.255",
  "127.0.0.0-127.255.255.255",
  "169.254.0.0-169.254.255.255",
  "169.254.169.254",
  "::1",
  "::ffff:0.0.0.0-::ffff:255.255.255.255",
  "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
] as const;

function userDataText(v: unknown): string | undefined {
  if (typeof v !== "string" || v === "") return undefined;
  const decoded = Buffer.from(v, "base64").toString("utf8");
  // Base64 round-trips only for base64 input; otherwise it was plain text already.
  return Buffer.from(decoded, "utf8").toString("base64").replace(/=+$/, "") === v.replace(/=+$/, "") ? decoded : v;
}

const coturnMarker = "static-auth-secret=";

/**
 * The coturn config a resource carries: embedded in a boot script, or rendered from the Turn
 * component's generator inputs, which are known at preview even when the user data is not.
 */
function coturnConfigOf(r: ResourceRecord): string | undefined {
  if (r.type === T.turnComponent) {
    const o = r.props.coturn as CoturnOptions | undefined;
    return o && typeof o === "object" ? coturnConfig({ ...o, secret: "policy-check" }) : undefined;
  }
  if (r.type !== T.launchTemplate && r.type !== T.instance) return undefined;
  const text = userDataText(r.props.userData);
  return text?.includes(coturnMarker) ? text : undefined;
}

/** `coturn/coturn:4.10.0@sha256:…` in a boot script or the Turn component's inputs. */
function coturnImageOf(r: ResourceRecord): string | undefined {
  if (r.type === T.turnComponent) return typeof r.props.coturnImage === "string" ? r.props.coturnImage : undefined;
  const text = coturnConfigOf(r);
  // The boot script sets IMAGE="…" (through the ECR cache: "$REGISTRY/<prefix>/coturn/coturn:…").
  return text ? /^IMAGE="[^"\n]*?([\w.-]*\/?coturn[\w./-]*:[\w.-]+(@sha256:[0-9a-f]{64})?)"/m.exec(text)?.[1] : undefined;
}

/** Which ingress each security group role may have (`vchat:role` tag); anything else is a finding. */
const roleIngress: Record<string, (i: Ingress, sources: { anywhere: boolean; groupsOnly: boolean }) => boolean> = {
  // CloudFront's prefix list on 443 (see alb-only-from-cloudfront).
  alb: (i) => i.protocol === "tcp" && i.from === 443 && i.to === 443 && i.cidrs.length === 0 && i.prefixLists.length > 0,
  tasks: (i, s) => i.protocol === "tcp" && i.from === i.to && s.groupsOnly,
  turn: (i) => internetIngressAllowed(i) && !(i.protocol === "tcp" && [80, 443, 5349].includes(i.from)),
  redis: (i, s) => i.protocol === "tcp" && i.from === 6379 && i.to === 6379 && s.groupsOnly,
  endpoints: (i, s) => i.protocol === "tcp" && i.from === 443 && i.to === 443 && !s.anywhere,
  // The bots fleet's workers only call out.
  bots: () => false,
};

/** Actions AWS grants only on `*` (no resource-level permissions). */
const wildcardOnlyActions = new Set(["ecr:GetAuthorizationToken"]);

/** What is too broad in an inline IAM policy document: wildcard actions, or `*` resources for actions that can name theirs. */
function broadGrants(policy: unknown): string[] {
  let doc: unknown = policy;
  if (typeof policy === "string") {
    try {
      doc = JSON.parse(policy);
    } catch {
      return ["policy is not JSON"];
    }
  }
  const out: string[] = [];
  for (const raw of asArray((doc as Record<string, unknown> | undefined)?.Statement)) {
    const st = (raw ?? {}) as Record<string, unknown>;
    if (st.Effect !== "Allow") continue;
    const actions = [st.Action].flat().map(str);
    const resources = [st.Resource].flat().map(str);
    for (const a of actions.filter((x) => x === "*" || x.endsWith(":*"))) out.push(`action ${a} grants a whole service`);
    if (resources.includes("*")) for (const a of actions.filter((x) => !wildcardOnlyActions.has(x))) out.push(`${a} on every resource ("*")`);
  }
  return out;
}

function roleOf(r: ResourceRecord): string {
  return str((r.props.tags as Record<string, unknown> | undefined)?.["vchat:role"]);
}

/** What is wrong with one ingress permission (inline entry or separate rule) on a group of `role`. */
function roleFindings(role: string, raw: Record<string, unknown>, r: ResourceRecord): string[] {
  const allowed = roleIngress[role];
  const i = ingressOf(r)[0];
  if (!allowed || !i) return [];
  const groupsOnly = i.cidrs.length === 0 && asArray(raw.securityGroups).length > 0;
  return allowed(i, { anywhere: i.cidrs.some((c) => anywhere.has(c)), groupsOnly })
    ? []
    : [`${role} group allows ${i.protocol} ${i.from}-${i.to} from ${[...i.cidrs, ...i.prefixLists].join(", ") || "security groups"}`];
}

/** Resources that hold data a prod `down` must keep. */
const dataTypes = new Set<string>([T.redisGroup, T.bucket, T.bucketV2, T.repository, T.secret, T.atlasProject, T.atlasCluster]);

export const rules: readonly SecurityRule[] = [
  {
    name: "no-ssh-from-anywhere",
    description: "No security group lets SSH (22) in from 0.0.0.0/0 or ::/0; use SSM Session Manager.",
    check(r) {
      return ingressOf(r)
        .filter((i) => (i.protocol === "tcp" || i.protocol === "-1") && covers(i, 22) && i.cidrs.some((c) => anywhere.has(c)))
        .map((i) => `SSH open to the internet (${i.protocol} ${i.from}-${i.to} from ${i.cidrs.join(", ")})`);
    },
  },
  {
    name: "only-turn-and-web-ports-public",
    description: "Only TCP 80/443 (web), TURN's 3478 UDP/TCP and 5349 TCP, and a UDP relay range within 49152-65535 are open to the internet.",
    check(r) {
      return ingressOf(r)
        .filter((i) => i.cidrs.some((c) => anywhere.has(c)) && !internetIngressAllowed(i))
        .map((i) => `${i.protocol === "-1" ? "all traffic" : `${i.protocol} ${i.from}-${i.to}`} open to the internet`);
    },
  },
  {
    name: "redis-encrypted",
    description: "ElastiCache Redis uses TLS in transit, an auth token and encryption at rest.",
    check(r) {
      if (r.type === T.cacheCluster && str(r.props.engine) !== "memcached" && !r.props.replicationGroupId) {
        return ["a stand-alone ElastiCache cluster cannot enforce TLS and auth: use a replication group"];
      }
      if (r.type !== T.redisGroup) return [];
      const out: string[] = [];
      if (r.props.transitEncryptionEnabled !== true) out.push("transitEncryptionEnabled is not true");
      if (r.props.transitEncryptionMode === "preferred") out.push('transitEncryptionMode is "preferred": clients may still connect without TLS');
      if (r.props.atRestEncryptionEnabled !== true) out.push("atRestEncryptionEnabled is not true");
      if (!r.props.authToken && !r.props.userGroupIds) out.push("no authToken (or RBAC user group)");
      return out;
    },
  },
  {
    name: "imdsv2-required",
    description: "EC2 instances and launch templates require IMDSv2 tokens with a hop limit of 1.",
    check(r) {
      if (r.type !== T.launchTemplate && r.type !== T.instance) return [];
      const m = (r.props.metadataOptions ?? {}) as Record<string, unknown>;
      const out: string[] = [];
      if (m.httpTokens !== "required") out.push(`metadataOptions.httpTokens is ${JSON.stringify(m.httpTokens ?? "optional")}, not "required"`);
      if (num(m.httpPutResponseHopLimit, 2) > 1) out.push(`metadataOptions.httpPutResponseHopLimit is ${String(m.httpPutResponseHopLimit ?? "unset")}, not 1`);
      return out;
    },
  },
  {
    name: "s3-public-access-blocked",
    description: "Every S3 bucket has a public access block with all four settings on, and no public ACL.",
    check(r) {
      const out: string[] = [];
      if (r.type === T.publicAccessBlock) {
        for (const k of ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"]) {
          if (r.props[k] !== true) out.push(`${k} is not true`);
        }
      }
      if ((r.type === T.bucket || r.type === T.bucketV2 || r.type === T.bucketAcl) && /^public-/.test(str(r.props.acl))) out.push(`acl ${str(r.props.acl)}`);
      return out;
    },
    checkStack(all) {
      const blocked = new Set(all.filter((r) => r.type === T.publicAccessBlock).map((r) => str(r.props.bucket)));
      // A block names its bucket by the bucket's id (= its name).
      return all
        .filter((r) => r.type === T.bucket || r.type === T.bucketV2)
        .filter((r) => ![r.id, str(r.props.bucket)].some((k) => k && blocked.has(k)))
        .map((r) => ({ rule: "s3-public-access-blocked", resource: r.name, message: "bucket has no public access block" }));
    },
  },
  {
    name: "turn-denies-private-peers",
    description: "A TURN boot script's coturn config denies private, loopback, link-local and metadata peers and never allows loopback peers.",
    check(r) {
      const text = coturnConfigOf(r);
      if (!text) return [];
      const lines = new Set(text.split("\n").map((l) => l.trim()));
      const out: string[] = [];
      if (lines.has("allow-loopback-peers")) out.push("allow-loopback-peers is set");
      for (const range of requiredDeniedPeers) if (!lines.has(`denied-peer-ip=${range}`)) out.push(`denied-peer-ip=${range} missing`);
      return out;
    },
  },
  {
    name: "coturn-version-pinned",
    description: `TURN instances run a pinned coturn ${minCoturnVersion} or newer (older ones let IPv4-mapped IPv6 peers bypass denied-peer-ip).`,
    check(r) {
      if (!coturnConfigOf(r) && r.type !== T.turnComponent) return [];
      const image = coturnImageOf(r);
      if (image === undefined && r.type === T.turnComponent) return [];
      // A digest pin (`coturn/coturn:4.10.0@sha256:…`) is the strongest pin there is.
      const version = image && /:(\d+\.\d+\.\d+)/.exec(image)?.[1];
      if (!version) return [`coturn image ${image ?? "(none found)"} is not pinned to a version`];
      const out = compareVersions(version, minCoturnVersion) < 0 ? [`coturn ${version} is older than ${minCoturnVersion}`] : [];
      if (r.stack === "prod" && !image.includes("@sha256:")) out.push(`coturn image ${image} is not pinned by digest in prod`);
      return out;
    },
  },
  {
    name: "turn-not-an-open-proxy",
    description: "coturn refuses TCP relays (no-tcp-relay) and caps bandwidth per session (max-bps) and per server (bps-capacity).",
    check(r) {
      const text = coturnConfigOf(r);
      if (!text) return [];
      const lines = text.split("\n").map((l) => l.trim());
      const value = (key: string) => Number(lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? 0);
      const out: string[] = [];
      if (!lines.includes("no-tcp-relay")) out.push("no-tcp-relay is missing: any credential holder can open TCP connections to any host");
      if (!(value("max-bps") > 0)) out.push("max-bps is unlimited");
      if (!(value("bps-capacity") > 0)) out.push("bps-capacity is unlimited");
      return out;
    },
  },
  {
    name: "atlas-not-open-to-the-internet",
    description: "The Atlas IP access list names addresses, never 0.0.0.0/0.",
    check(r) {
      if (r.type !== T.atlasAccess) return [];
      const entry = str(r.props.cidrBlock) || str(r.props.ipAddress);
      return entry === "0.0.0.0/0" || entry === "0.0.0.0" || entry === "::/0" ? [`access list entry ${entry} opens the database to the internet`] : [];
    },
  },
  {
    name: "images-immutable",
    description: "Images are named by content: no `latest` or untagged service images, ECR repositories refuse tag overwrites.",
    check(r) {
      if (r.type === T.repository)
        return r.props.imageTagMutability === "IMMUTABLE"
          ? []
          : [`imageTagMutability is ${JSON.stringify(r.props.imageTagMutability ?? "MUTABLE")}, not "IMMUTABLE"`];
      const images: string[] = [];
      if (r.type === T.taskDefinition && typeof r.props.containerDefinitions === "string") {
        try {
          for (const c of JSON.parse(r.props.containerDefinitions) as { image?: string }[]) images.push(str(c.image));
        } catch {
          return ["containerDefinitions is not JSON"];
        }
      }
      const coturn = coturnImageOf(r);
      if (coturn) images.push(coturn);
      return images
        .filter((i) => !i.includes("@sha256:") && (/:latest$/.test(i) || !/:[\w.-]+$/.test(i.split("/").pop() ?? "")))
        .map((i) => `image ${i} has a moving tag`);
    },
  },
  {
    name: "prod-data-protected",
    description: "In prod, Redis, Atlas, the web bucket, the image repository and the secrets are protected from deletion.",
    check(r) {
      if (r.stack !== "prod") return [];
      const out = dataTypes.has(r.type) && r.protect !== true ? ["prod data without protect: `vchat down` would delete it"] : [];
      if (r.type === T.redisGroup && !r.props.finalSnapshotIdentifier)
        out.push("no finalSnapshotIdentifier: deleting the group takes its automatic snapshots with it");
      return out;
    },
  },
  {
    name: "security-group-ports-match-role",
    description:
      "Each security group has a vchat:role tag (alb, tasks, turn, redis, endpoints, bots) and only the ingress that role needs (bots: none), inline or as separate ingress rules.",
    check(r) {
      if (r.type !== T.sg) return [];
      const role = roleOf(r);
      if (!roleIngress[role]) return [`security group has no known vchat:role tag (got ${JSON.stringify(role)})`];
      return asArray(r.props.ingress).flatMap((e) => roleFindings(role, (e ?? {}) as Record<string, unknown>, { ...r, props: { ingress: [e] } }));
    },
    checkStack(all) {
      // Separate ingress rules name their group by id (by dependency in the policy pack, where
      // ids are unknown at preview): judge them by that group's role.
      const roles = new Map(all.filter((r) => r.type === T.sg && r.id).map((r) => [r.id!, roleOf(r)]));
      return all
        .filter((r) => r.type === T.ingressRule && roles.has(str(r.props.securityGroupId)))
        .flatMap((r) => {
          const role = roles.get(str(r.props.securityGroupId))!;
          const raw = { ...r.props, securityGroups: r.props.referencedSecurityGroupId ? [r.props.referencedSecurityGroupId] : [] };
          return roleFindings(role, raw, r).map((message) => ({ rule: "security-group-ports-match-role", resource: r.name, message }));
        });
    },
  },
  {
    name: "turn-nlb-no-cross-zone",
    description: "The TURN NLB keeps traffic in its zone (cross-zone load balancing off).",
    check(r) {
      return r.type === T.loadBalancer &&
        r.props.loadBalancerType === "network" &&
        (r.props.enableCrossZoneLoadBalancing === true || r.props.enableCrossZoneLoadBalancing === "true")
        ? ["cross-zone load balancing is on: relayed traffic crosses AZs and is billed per GB"]
        : [];
    },
  },
  {
    name: "web-index-not-cached",
    description: "CloudFront does not cache index.html, so a deploy reaches browsers at once.",
    check(r) {
      if (r.type !== T.distribution) return [];
      const behaviours = asArray(r.props.orderedCacheBehaviors) as Record<string, unknown>[];
      const index = behaviours.find((b) => b && b.pathPattern === "/index.html");
      return index && index.cachePolicyId === "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
        ? []
        : ["index.html is cached (no /index.html behaviour with the CachingDisabled policy)"];
    },
  },
  {
    name: "tls-names-covered",
    description:
      "The service hands out TLS URLs (turns:, https:) only under the configured domains, never a load balancer's own name, which no certificate covers.",
    check(r) {
      if (r.type !== T.taskDefinition || typeof r.props.containerDefinitions !== "string") return [];
      try {
        const env = (JSON.parse(r.props.containerDefinitions) as { environment?: { name: string; value: string }[] }[]).flatMap((c) => c.environment ?? []);
        return env
          .flatMap((e) => e.value.split(",").map((url) => ({ name: e.name, url: url.trim() })))
          .filter(({ url }) => /^(turns|https):/.test(url) && /\.elb\.[\w.-]*amazonaws\.com/.test(url))
          .map(({ name, url }) => `${name} offers ${url}: no certificate covers a load balancer's own name`);
      } catch {
        return [];
      }
    },
  },
  {
    name: "service-rollout-checked",
    description: "ECS services wait for steady state and roll back through the circuit breaker, so `up` fails when tasks crash-loop.",
    check(r) {
      if (r.type !== T.ecsService) return [];
      const out: string[] = [];
      if (r.props.waitForSteadyState !== true) out.push("waitForSteadyState is not true: up succeeds while tasks crash-loop");
      const breaker = (r.props.deploymentCircuitBreaker ?? {}) as Record<string, unknown>;
      if (breaker.enable !== true || breaker.rollback !== true) out.push("deployment circuit breaker with rollback is off");
      return out;
    },
  },
  {
    name: "turn-refresh-keeps-capacity",
    description: "An instance refresh never takes the TURN group below its healthy capacity (launch before terminate).",
    check(r) {
      if (r.type !== T.asg) return [];
      const prefs = ((r.props.instanceRefresh ?? {}) as Record<string, unknown>).preferences as Record<string, unknown> | undefined;
      if (!r.props.instanceRefresh) return [];
      return num(prefs?.minHealthyPercentage, 90) < 100
        ? [`instance refresh keeps only ${num(prefs?.minHealthyPercentage, 90)} % healthy: a group of one goes dark`]
        : [];
    },
  },
  {
    name: "monitoring-not-public",
    description: "An internet-facing ALB answers /metrics and /readyz itself (a fixed-response rule); monitoring is scraped inside the VPC.",
    checkStack(all) {
      const albs = all.filter((r) => r.type === T.loadBalancer && r.props.loadBalancerType === "application" && r.props.internal !== true);
      if (albs.length === 0) return [];
      const hidden = new Set(
        all
          .filter((r) => r.type === T.listenerRule)
          .filter((r) => (asArray(r.props.actions) as Record<string, unknown>[]).some((a) => a?.type === "fixed-response"))
          // eslint-disable-next-line @typescript-eslint/no-explicit-any -- listener rule conditions as Pulumi records them
          .flatMap((r) => (asArray(r.props.conditions) as Record<string, any>[]).flatMap((c) => asArray(c?.pathPattern?.values).map(str))),
      );
      const missing = ["/metrics*", "/readyz*"].filter((p) => !hidden.has(p));
      return missing.length ? [{ rule: "monitoring-not-public", resource: albs[0]!.name, message: `no fixed-response rule for ${missing.join(", ")}` }] : [];
    },
  },
  {
    name: "s3-gateway-endpoint",
    description: "Each VPC reaches S3 through a gateway endpoint, not through NAT's per-GB fee.",
    checkStack(all) {
      const vpcs = all.filter((r) => r.type === "aws:ec2/vpc:Vpc");
      const gateway = all.some((r) => r.type === T.vpcEndpoint && r.props.vpcEndpointType === "Gateway" && /\.s3$/.test(str(r.props.serviceName)));
      return vpcs.length > 0 && !gateway ? [{ rule: "s3-gateway-endpoint", resource: vpcs[0]!.name, message: "no S3 gateway endpoint" }] : [];
    },
  },
  {
    name: "cost-guards",
    description: "An environment (a stack with a VPC) has a cost budget and an alarm on TURN NetworkOut; a bots fleet's guard is its teardown.",
    checkStack(all) {
      const out: RuleViolation[] = [];
      if (!all.some((r) => r.type === "aws:ec2/vpc:Vpc")) return out;
      if (!all.some((r) => r.type === T.budget)) out.push({ rule: "cost-guards", resource: "stack", message: "no AWS budget" });
      if (!all.some((r) => r.type === T.alarm && r.props.metricName === "NetworkOut"))
        out.push({ rule: "cost-guards", resource: "stack", message: "no alarm on TURN NetworkOut" });
      return out;
    },
  },
  {
    name: "alb-only-from-cloudfront",
    description:
      "The ALB answers CloudFront only: its security group admits no address range (only CloudFront's origin-facing prefix list), its HTTPS listener refuses by default, and a listener rule forwards requests that carry the secret origin header.",
    check(r) {
      if (r.type === T.sg && roleOf(r) === "alb") {
        return ingressOf(r)
          .filter((i) => i.cidrs.length > 0)
          .map(
            (i) =>
              `ALB open to ${i.cidrs.join(", ")} on ${i.protocol} ${i.from}-${i.to}: anyone can skip CloudFront; admit only the com.amazonaws.global.cloudfront.origin-facing prefix list`,
          );
      }
      if (r.type === T.listener && str(r.props.protocol) === "HTTPS") {
        const actions = asArray(r.props.defaultActions) as Record<string, unknown>[];
        return actions.some((a) => a?.type === "forward" || a?.type === "authenticate-oidc")
          ? ["the HTTPS listener forwards by default: requests without CloudFront's origin header must get a fixed 403"]
          : [];
      }
      return [];
    },
    checkStack(all) {
      const albs = all.filter((r) => r.type === T.loadBalancer && r.props.loadBalancerType === "application" && r.props.internal !== true);
      if (albs.length === 0) return [];
      const headerRule = all
        .filter((r) => r.type === T.listenerRule)
        .some(
          (r) =>
            (asArray(r.props.actions) as Record<string, unknown>[]).some((a) => a?.type === "forward") &&
            // eslint-disable-next-line @typescript-eslint/no-explicit-any -- listener rule conditions as Pulumi records them
            (asArray(r.props.conditions) as Record<string, any>[]).some((c) => typeof c?.httpHeader?.httpHeaderName === "string"),
        );
      return headerRule
        ? []
        : [{ rule: "alb-only-from-cloudfront", resource: albs[0]!.name, message: "no listener rule forwards on CloudFront's origin header" }];
    },
  },
  {
    name: "https-only",
    description: "CloudFront never serves plain HTTP, and an ALB's HTTP listener only redirects to HTTPS.",
    check(r) {
      if (r.type === T.distribution) {
        const behaviours = [r.props.defaultCacheBehavior, ...asArray(r.props.orderedCacheBehaviors)] as Record<string, unknown>[];
        return behaviours.filter((b) => b && b.viewerProtocolPolicy === "allow-all").map(() => "a cache behaviour allows plain HTTP");
      }
      if (r.type === T.listener && str(r.props.protocol) === "HTTP") {
        const actions = asArray(r.props.defaultActions) as Record<string, unknown>[];
        const ok =
          actions.length > 0 && actions.every((a) => a.type === "redirect" && str((a.redirect as Record<string, unknown> | undefined)?.protocol) === "HTTPS");
        return ok ? [] : ["HTTP listener does not redirect to HTTPS"];
      }
      return [];
    },
  },
  {
    name: "iam-least-privilege",
    description:
      "Inline IAM policies name their resources: no wildcard actions, `*` resources only for actions AWS grants on nothing else (ecr:GetAuthorizationToken).",
    check(r) {
      return r.type === T.rolePolicy ? broadGrants(r.props.policy) : [];
    },
  },
  {
    name: "logs-expire",
    description: "Every CloudWatch log group has a retention period (unset keeps logs, and their bill, forever).",
    check(r) {
      return r.type === T.logGroup && !(num(r.props.retentionInDays, 0) > 0) ? ["retentionInDays is not set: logs never expire"] : [];
    },
  },
  {
    name: "task-role-without-permissions",
    description: 'A role tagged vchat:role "no-permissions" (the bots workers\' task role: their code calls no AWS API) has no policy attached.',
    checkStack(all) {
      const empty = new Set(
        all.filter((r) => r.type === T.role && roleOf(r) === "no-permissions").flatMap((r) => [r.id, r.name].filter((x): x is string => !!x)),
      );
      return all
        .filter((r) => (r.type === T.rolePolicy || r.type === T.rolePolicyAttachment) && empty.has(str(r.props.role)))
        .map((r) => ({
          rule: "task-role-without-permissions",
          resource: r.name,
          message: `grants permissions to the no-permissions role ${str(r.props.role)}`,
        }));
    },
  },
];

/** Runs every rule over a set of records. */
export function checkAll(all: ResourceRecord[], only: readonly SecurityRule[] = rules): RuleViolation[] {
  const out: RuleViolation[] = [];
  for (const rule of only) {
    if (rule.check) for (const r of all) for (const message of rule.check(r)) out.push({ rule: rule.name, resource: r.name, message });
    if (rule.checkStack) out.push(...rule.checkStack(all));
  }
  return out;
}
