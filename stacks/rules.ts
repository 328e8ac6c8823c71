/**
 * Security rules as exported predicates over plain resource records (type + input properties).
 * The same functions check the mocked program in the tests, the offline preview, and real
 * deployments through the policy pack in `stacks/policy/` that `vchat up` applies.
 * Pure: no Pulumi imports, so the policy pack can load this file as is.
 */
import { compareVersions, minCoturnVersion } from "./config.ts";

export interface ResourceRecord {
  type: string;
  name: string;
  /** Physical id where known (mocks, stack-level policy checks). */
  id?: string;
  /** Input properties as the engine sees them; `undefined` where still unknown (preview). */
  props: Record<string, unknown>;
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
} as const;
export const resourceTypes = T;

const anywhere = new Set(["0.0.0.0/0", "::/0"]);

interface Ingress {
  protocol: string;
  from: number;
  to: number;
  cidrs: string[];
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
      },
    ];
  }
  if (r.type === T.ingressRule) {
    return [
      { protocol: norm(str(p.ipProtocol)), from: num(p.fromPort, 0), to: num(p.toPort, 65535), cidrs: [str(p.cidrIpv4), str(p.cidrIpv6)].filter(Boolean) },
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
      if (r.type !== T.launchTemplate && r.type !== T.instance) return [];
      const text = userDataText(r.props.userData);
      if (!text || !text.includes(coturnMarker)) return [];
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
      if (r.type !== T.launchTemplate && r.type !== T.instance) return [];
      const text = userDataText(r.props.userData);
      if (!text || !text.includes(coturnMarker)) return [];
      const m = /\s([\w./-]*coturn[\w./-]*):(\d+\.\d+\.\d+)[\w.-]*\s/.exec(text);
      if (!m?.[2]) return ["coturn image is not pinned to a version"];
      return compareVersions(m[2], minCoturnVersion) < 0 ? [`coturn ${m[2]} is older than ${minCoturnVersion}`] : [];
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
