import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { certificateCovers, ConfigError, cidrToRange, offlineEnvConfig, requiredKeys, resolveEnvConfig } from "./config.ts";
import { embeddedCoturnConfig } from "./turn-userdata.ts";
import { mockZones, planOffline, type OfflinePlan, type PlannedResource } from "./offline.ts";
import { checkAll, rules, type ResourceRecord } from "./rules.ts";
import { vchatProgram } from "./program.ts";
import { checkoutRoot, readRelease, releaseToolProblems } from "./release.ts";
import { spaFallbackCode } from "./web.ts";
import { nodePathPatterns } from "../protocol/routes.ts";

const plans: Record<string, OfflinePlan> = {};

/** A checkout as `vchat up` ships it: this Dockerfile and .dockerignore, a source, a web build. */
const release = {
  Dockerfile: readFileSync(join(checkoutRoot, "Dockerfile"), "utf8"),
  ".dockerignore": readFileSync(join(checkoutRoot, ".dockerignore"), "utf8"),
  "cli/vchat.ts": "console.log('vchat');\n",
  "tests/ignored.test.ts": "not in the image\n",
  "web/dist/index.html": "<!doctype html><script type=module src=/assets/index-CG9OZwAn.js></script>\n",
  "web/dist/assets/index-CG9OZwAn.js": "console.log(1);\n",
  "web/dist/assets/index-Ba7QRxsp.css": "body{}\n",
  "web/dist/favicon.svg": "<svg/>\n",
  "web/dist/robots.txt": "User-agent: *\n",
};
const checkouts: string[] = [];
function checkout(files: Record<string, string | undefined> = {}): string {
  const root = mkdtempSync(join(tmpdir(), "vchat-release-"));
  checkouts.push(root);
  for (const [path, text] of Object.entries({ ...release, ...files })) {
    if (text === undefined) continue;
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}
let root: string;

beforeAll(async () => {
  root = checkout();
  plans.dev = await planOffline("dev", {}, { root });
  plans.prod = await planOffline("prod", {}, { root });
  plans.kvs = await planOffline("dev", { kinesisSignaling: "true" }, { root });
}, 60_000);
afterAll(() => {
  for (const dir of checkouts) rmSync(dir, { recursive: true, force: true });
});

const ofType = (plan: OfflinePlan, suffix: string) => plan.resources.filter((r) => r.type.endsWith(suffix));
const one = (plan: OfflinePlan, suffix: string): PlannedResource => {
  const found = ofType(plan, suffix);
  expect(found, suffix).toHaveLength(1);
  return found[0]!;
};
const props = (r: PlannedResource) => r.props as Record<string, any>;

describe.each(["dev", "prod"] as const)("the %s stack on Pulumi mocks", (env) => {
  const plan = () => plans[env]!;
  const cfg = offlineEnvConfig(env);

  it("has one component per service under the environment, every resource parented", () => {
    const components = plan().resources.filter((r) => r.component);
    expect(components.map((c) => c.type).sort()).toEqual(
      ["Alerts", "Data", "Environment", "Network", "Secrets", "Service", "ServiceImage", "Turn", "Web"].map((t) => `vchat:stacks:${t}`).sort(),
    );
    const root = plan().resources.filter((r) => !r.parent);
    expect(root.map((r) => r.type)).toEqual(["vchat:stacks:Environment"]);
    const names = new Set(plan().resources.map((r) => r.name));
    for (const r of plan().resources) if (r.parent) expect(names.has(r.parent), `${r.name}'s parent`).toBe(true);
  });

  it("passes every security rule", () => {
    expect(plan().violations).toEqual([]);
    expect(checkAll(plan().resources.filter((r) => !r.component))).toEqual([]);
  });

  it("spreads the network over the configured AZs with public and private subnets", () => {
    const subnets = ofType(plan(), "/subnet:Subnet");
    expect(subnets).toHaveLength(cfg.azCount * 2);
    expect(new Set(subnets.map((s) => props(s).availabilityZone)).size).toBe(cfg.azCount);
    expect(cfg.azCount).toBeGreaterThanOrEqual(2);
    expect(ofType(plan(), "/natGateway:NatGateway")).toHaveLength(env === "prod" ? cfg.azCount : 1);
    expect(props(one(plan(), "/vpc:Vpc")).cidrBlock).toBe(cfg.vpcCidr);
  });

  it("puts the service on Fargate behind an HTTPS ALB that answers CloudFront only, /healthz and a long idle timeout", () => {
    const alb = ofType(plan(), "/loadBalancer:LoadBalancer").find((r) => props(r).loadBalancerType === "application")!;
    expect(props(alb).idleTimeout).toBeGreaterThan(45);
    const listeners = ofType(plan(), "/listener:Listener").filter((l) => l.parent?.endsWith("-svc"));
    // CloudFront reaches the ALB over HTTPS only: no port 80 at all.
    expect(listeners.map((l) => props(l).port)).toEqual([443]);
    const https = listeners[0]!;
    expect(props(https)).toMatchObject({ protocol: "HTTPS", certificateArn: cfg.certificateArn });
    // Without the origin header: 403. With it: the nodes.
    expect(props(https).defaultActions).toEqual([
      expect.objectContaining({ type: "fixed-response", fixedResponse: expect.objectContaining({ statusCode: "403" }) }),
    ]);
    const fromCloudFront = props(ofType(plan(), "/listenerRule:ListenerRule").find((r) => r.name.endsWith("from-cloudfront"))!);
    expect(fromCloudFront.conditions).toEqual([{ httpHeader: { httpHeaderName: "x-vchat-origin-verify", values: ["[secret]"] } }]);
    expect(fromCloudFront.actions).toEqual([expect.objectContaining({ type: "forward" })]);
    const albSg = ofType(plan(), "/securityGroup:SecurityGroup").find((s) => s.name.endsWith("alb-sg"))!;
    expect(props(albSg).ingress).toEqual([expect.objectContaining({ protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: ["pl-0mockcloudfront"] })]);
    expect(JSON.stringify(props(albSg).ingress)).not.toMatch(/0\.0\.0\.0\/0|::\/0/);
    const tg = ofType(plan(), "/targetGroup:TargetGroup").find((t) => props(t).protocol === "HTTP")!;
    expect(props(tg).healthCheck.path).toBe("/healthz");
    expect(props(tg).stickiness.enabled).toBe(false);
    const service = one(plan(), "ecs/service:Service");
    expect(props(service)).toMatchObject({ launchType: "FARGATE", networkConfiguration: { assignPublicIp: false } });
    const task = one(plan(), "/taskDefinition:TaskDefinition");
    const container = JSON.parse(props(task).containerDefinitions)[0];
    expect(container.secrets.map((s: { name: string }) => s.name).sort()).toEqual([
      "VCHAT_ADMIN_SECRET",
      "VCHAT_JWT_SECRET",
      "VCHAT_MONGODB_URI",
      "VCHAT_REDIS_URL",
      "VCHAT_TURN_SECRET",
    ]);
    for (const s of container.secrets) expect(s.valueFrom).toMatch(/^arn:aws:/);
    const envVars = Object.fromEntries(container.environment.map((e: { name: string; value: string }) => [e.name, e.value]));
    // Two proxies append to X-Forwarded-For: CloudFront, then the ALB.
    expect(envVars).toMatchObject({ VCHAT_HOST: "0.0.0.0", VCHAT_PORT: String(cfg.service.port), VCHAT_TRUST_PROXY: "2" });
    expect(envVars.VCHAT_TURN_URLS).toMatch(/^turn:.*:3478\?transport=udp,/);
    expect(envVars.VCHAT_CORS_ORIGINS).toMatch(/^https:\/\//);
    // No secret value travels in plain environment variables.
    expect(JSON.stringify(container.environment)).not.toMatch(/offline0x/);
  });

  it("runs coturn on an ASG: public IP, IMDSv2 hop 1, NLB on 3478 TCP_UDP and TLS 5349/443, drain hook, network scaling", () => {
    const lt = one(plan(), "/launchTemplate:LaunchTemplate");
    expect(props(lt).metadataOptions).toMatchObject({ httpTokens: "required", httpPutResponseHopLimit: 1 });
    expect(props(lt).networkInterfaces[0].associatePublicIpAddress).toBe("true");
    const nlb = ofType(plan(), "/loadBalancer:LoadBalancer").find((r) => props(r).loadBalancerType === "network")!;
    const nlbListeners = ofType(plan(), "/listener:Listener").filter((l) => l.parent === nlb.parent);
    expect(nlbListeners.map((l) => `${props(l).protocol}:${props(l).port}`).sort()).toEqual(["TCP_UDP:3478", "TLS:443", "TLS:5349"]);
    const tgs = ofType(plan(), "/targetGroup:TargetGroup").filter((t) => t.parent === nlb.parent);
    for (const tg of tgs) expect(props(tg).healthCheck).toMatchObject({ protocol: "TCP", port: "3478" });
    const asg = one(plan(), "autoscaling/group:Group");
    expect(props(asg).initialLifecycleHooks[0]).toMatchObject({
      lifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING",
      heartbeatTimeout: cfg.turn.drainTimeoutSeconds,
    });
    expect(props(asg)).toMatchObject({ minSize: cfg.turn.minInstances, maxSize: cfg.turn.maxInstances });
    const policy = ofType(plan(), "autoscaling/policy:Policy")[0]!;
    expect(props(policy).targetTrackingConfiguration.predefinedMetricSpecification.predefinedMetricType).toBe("ASGAverageNetworkOut");
    // Least privilege: exactly three actions, each on named resources.
    const rolePolicy = ofType(plan(), "/rolePolicy:RolePolicy").find((r) => r.parent?.endsWith("-turn"))!;
    const doc = JSON.parse(props(rolePolicy).policy);
    expect(doc.Statement.flatMap((s: { Action: string[] }) => s.Action).sort()).toEqual([
      "autoscaling:CompleteLifecycleAction",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "secretsmanager:GetSecretValue",
    ]);
    for (const s of doc.Statement) for (const r of s.Resource) expect(r).not.toBe("*");
    const sg = ofType(plan(), "/securityGroup:SecurityGroup").find((s) => s.parent?.endsWith("-turn"))!;
    expect(
      props(sg)
        .ingress.map((i: any) => `${i.protocol}:${i.fromPort}-${i.toPort}`)
        .sort(),
    ).toEqual(["tcp:3478-3478", "udp:3478-3478", `udp:${cfg.turn.minPort}-${cfg.turn.maxPort}`].sort());
  });

  it("keeps Redis 7 encrypted, authenticated and Multi-AZ, reachable only from the tasks", () => {
    const redis = props(one(plan(), "/replicationGroup:ReplicationGroup"));
    expect(redis).toMatchObject({ engine: "redis", transitEncryptionEnabled: true, transitEncryptionMode: "required", atRestEncryptionEnabled: true });
    // Multi-AZ with failover wherever there is a replica to fail over to (dev runs one node).
    expect(redis.multiAzEnabled).toBe(cfg.redis.nodes > 1);
    expect(redis.automaticFailoverEnabled).toBe(cfg.redis.nodes > 1);
    expect(redis.engineVersion).toMatch(/^7/);
    expect(redis.authToken).toBeTruthy();
    expect(redis.numCacheClusters).toBe(cfg.redis.nodes);
    expect(redis.finalSnapshotIdentifier).toBe(cfg.retainData ? `vchat-${env}-redis-final` : undefined);
    const redisSg = ofType(plan(), "/securityGroup:SecurityGroup").find((s) => s.name.endsWith("redis-sg"))!;
    expect(props(redisSg).ingress ?? []).toEqual([]);
    const rule = props(one(plan(), "/securityGroupIngressRule:SecurityGroupIngressRule"));
    expect(rule).toMatchObject({ fromPort: 6379, toPort: 6379, ipProtocol: "tcp" });
    expect(rule.referencedSecurityGroupId).toBeTruthy();
    expect(rule.cidrIpv4).toBeUndefined();
  });

  it("creates an Atlas AdvancedCluster, a generated-password user, and access from the NAT addresses only", () => {
    const cluster = props(one(plan(), "advancedCluster:AdvancedCluster"));
    expect(cluster.replicationSpecs[0].regionConfigs[0]).toMatchObject({ providerName: "AWS", regionName: "EU_WEST_1" });
    const user = props(one(plan(), "databaseUser:DatabaseUser"));
    expect(user.password).toBe("[secret]");
    const access = ofType(plan(), "projectIpAccessList:ProjectIpAccessList").map((r) => props(r));
    const natIps = ofType(plan(), "/eip:Eip").length;
    expect(access).toHaveLength(natIps);
    for (const a of access) {
      expect(a.ipAddress).toMatch(/^203\.0\.113\.\d+$/);
      expect(a.cidrBlock).toBeUndefined();
    }
  });

  it("serves the web client from a private bucket through CloudFront OAC, HTTPS only", () => {
    expect(props(one(plan(), "bucketPublicAccessBlock:BucketPublicAccessBlock"))).toMatchObject({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    const cdn = props(one(plan(), "distribution:Distribution"));
    expect(cdn.defaultCacheBehavior.viewerProtocolPolicy).toBe("redirect-to-https");
    expect(cdn.origins[0].originAccessControlId).toBeTruthy();
    const policy = JSON.parse(props(one(plan(), "bucketPolicy:BucketPolicy")).policy);
    expect(policy.Statement[0].Principal).toEqual({ Service: "cloudfront.amazonaws.com" });
    expect(policy.Statement[0].Condition.StringEquals["AWS:SourceArn"]).toMatch(/^arn:/);
  });

  it("exports the web, API and TURN URLs, the Redis endpoint and a masked Atlas string; no Kinesis by default", () => {
    const o = plan().outputs;
    expect(o.webUrl).toMatch(/^https:\/\//);
    // One origin: the ALB answers CloudFront only, so API clients use the web URL too.
    expect(o.apiUrl).toBe(o.webUrl);
    expect(o.turnUrls).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^turn:.*:3478\?transport=udp$/),
        expect.stringMatching(/^turns:.*:5349\?transport=tcp$/),
        expect.stringMatching(/^turns:.*:443\?transport=tcp$/),
      ]),
    );
    expect(o.redisEndpoint).toBeTruthy();
    expect(o.dnsRecords).toEqual([
      `${cfg.apiDomain} CNAME vchat-${env}-svc-alb.elb.mock.amazonaws.com`,
      `${cfg.turnDomain} CNAME vchat-${env}-turn-nlb.elb.mock.amazonaws.com`,
    ]);
    expect(o.atlasConnectionString).toBe("[secret]");
    expect(o.kinesisChannelArn).toBeUndefined();
    expect(plan().resources.some((r) => r.type === "vchat:stacks:KinesisSignaling")).toBe(false);
  });
});

describe.each(["dev", "prod"] as const)("the %s stack, as an SRE signs it off", (env) => {
  const plan = () => plans[env]!;
  const cfg = offlineEnvConfig(env);

  it("takes its zones from getAvailabilityZones, not `${region}a/b/c`", () => {
    const zones = ofType(plan(), "/subnet:Subnet").map((s) => props(s).availabilityZone);
    // The mocked lookup offers b, c, a: a built `${region}a` would show up first.
    const offered = mockZones(cfg.region).slice(0, cfg.azCount);
    expect([...new Set(zones)].sort()).toEqual([...offered].sort());
  });

  it("keeps TURN traffic in its zone, refreshes without dropping below the healthy count, alarms on NetworkOut", () => {
    const nlb = ofType(plan(), "/loadBalancer:LoadBalancer").find((r) => props(r).loadBalancerType === "network")!;
    expect(props(nlb).enableCrossZoneLoadBalancing).toBe(false);
    const asg = props(one(plan(), "autoscaling/group:Group"));
    expect(asg.instanceRefresh.preferences).toMatchObject({ minHealthyPercentage: 100, maxHealthyPercentage: 200 });
    const alarm = props(one(plan(), "metricAlarm:MetricAlarm"));
    expect(alarm).toMatchObject({
      metricName: "NetworkOut",
      namespace: "AWS/EC2",
      dimensions: { AutoScalingGroupName: `vchat-${env}-turn` },
      threshold: cfg.turn.alarmNetworkOutGbPerHour * 1e9,
    });
    const budget = props(one(plan(), "budgets/budget:Budget"));
    expect(budget).toMatchObject({ budgetType: "COST", timeUnit: "MONTHLY", limitAmount: cfg.monthlyBudgetUsd.toFixed(2) });
  });

  it("caps TURN bandwidth and refuses TCP relays in the embedded coturn config", () => {
    const userData = Buffer.from(String(props(one(plan(), "/launchTemplate:LaunchTemplate")).userData), "base64").toString("utf8");
    const conf = embeddedCoturnConfig(userData)!;
    expect(conf.split("\n")).toEqual(
      expect.arrayContaining([
        "no-tcp-relay",
        `max-bps=${cfg.turn.maxBpsPerSession}`,
        `bps-capacity=${cfg.turn.bpsCapacity}`,
        `user-quota=${cfg.turn.userQuota}`,
        `total-quota=${cfg.turn.totalQuota}`,
      ]),
    );
  });

  it("routes S3 through a gateway endpoint; interface endpoints only where they pay (prod)", () => {
    const endpoints = ofType(plan(), "/vpcEndpoint:VpcEndpoint").map((r) => props(r));
    expect(endpoints.filter((e) => e.vpcEndpointType === "Gateway").map((e) => e.serviceName)).toEqual([`com.amazonaws.${cfg.region}.s3`]);
    expect(endpoints.filter((e) => e.vpcEndpointType === "Interface")).toHaveLength(cfg.interfaceEndpoints ? 4 : 0);
    expect(cfg.interfaceEndpoints).toBe(env === "prod");
  });

  it("hides /metrics and /readyz from the internet at the ALB; never caches index.html", () => {
    const rule = props(ofType(plan(), "/listenerRule:ListenerRule").find((r) => r.name.endsWith("internal-paths"))!);
    expect(rule.priority).toBeLessThan(20);
    expect(rule.conditions[0].pathPattern.values).toEqual(["/metrics*", "/readyz*"]);
    expect(rule.actions[0]).toMatchObject({ type: "fixed-response", fixedResponse: { statusCode: "404" } });
    const cdn = props(one(plan(), "distribution:Distribution"));
    expect(cdn.orderedCacheBehaviors).toContainEqual(
      expect.objectContaining({ pathPattern: "/index.html", targetOriginId: "web", cachePolicyId: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" }),
    );
  });

  it("gives the browser one origin: the paths of protocol/routes.ts go uncached to the API, the rest to the bucket, the SPA fallback only there", () => {
    const cdn = props(one(plan(), "distribution:Distribution"));
    const api = cdn.origins.find((o: { originId: string }) => o.originId === "api");
    expect(api).toMatchObject({
      domainName: cfg.apiDomain,
      customOriginConfig: { originProtocolPolicy: "https-only" },
      // The ALB forwards nothing without it; the value is a generated secret, masked here.
      customHeaders: [{ name: "x-vchat-origin-verify", value: "[secret]" }],
    });
    const toApi = cdn.orderedCacheBehaviors.filter((b: { targetOriginId: string }) => b.targetOriginId === "api");
    expect(toApi.map((b: { pathPattern: string }) => b.pathPattern)).toEqual([...nodePathPatterns]);
    for (const b of toApi) {
      expect(b).toMatchObject({
        cachePolicyId: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        originRequestPolicyId: "b689b0a8-53d0-40ab-baf2-68738e2966ac",
        viewerProtocolPolicy: "https-only",
      });
      expect(b.allowedMethods).toEqual(expect.arrayContaining(["GET", "POST", "OPTIONS"]));
    }
    expect(cdn.defaultCacheBehavior.targetOriginId).toBe("web");
    // A distribution-wide error page would turn the API's 404 into index.html.
    expect(cdn.customErrorResponses ?? []).toEqual([]);
    expect(cdn.defaultCacheBehavior.functionAssociations).toEqual([expect.objectContaining({ eventType: "viewer-request" })]);
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- runs the CloudFront function's own source, as CloudFront would
    const spa = new Function(`${spaFallbackCode}; return handler;`)() as (e: { request: { uri: string } }) => { uri: string };
    expect(spa({ request: { uri: "/call/123" } }).uri).toBe("/index.html");
    expect(spa({ request: { uri: "/assets/index-53trShyW.js" } }).uri).toBe("/assets/index-53trShyW.js");
  });

  it("builds the checkout's Dockerfile, pushes it by content tag to the immutable repository, runs it by digest, waits for steady state", () => {
    const repo = props(one(plan(), "ecr/repository:Repository"));
    expect(repo.imageTagMutability).toBe("IMMUTABLE");
    const build = props(one(plan(), "docker-build:index:Image"));
    expect(build).toMatchObject({
      context: { location: root },
      dockerfile: { location: join(root, "Dockerfile") },
      platforms: ["linux/amd64"],
      push: true,
      buildOnPreview: false,
    });
    expect(build.tags).toEqual([expect.stringMatching(new RegExp(`^\\d{12}\\.dkr\\.ecr\\.${cfg.region}\\.amazonaws\\.com/vchat-${env}:src-[0-9a-f]{16}$`))]);
    // No registry credentials in the inputs: an ECR token changes per run and would break `up --plan`.
    expect(build.registries).toBeUndefined();
    const container = JSON.parse(props(one(plan(), "/taskDefinition:TaskDefinition")).containerDefinitions)[0];
    expect(container.image).toBe(`${build.tags[0]}@sha256:${container.image.split("@sha256:")[1]}`);
    expect(container.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    expect(props(one(plan(), "ecs/service:Service")).waitForSteadyState).toBe(true);
  });

  it("uploads web/dist with content types and cache headers, and invalidates the distribution on that upload", () => {
    const objects = ofType(plan(), "bucketObjectv2:BucketObjectv2").map((r) => props(r));
    const byKey = Object.fromEntries(objects.map((o) => [o.key, { type: o.contentType, cache: o.cacheControl, file: o.source.file }]));
    const immutable = "public, max-age=31536000, immutable";
    expect(byKey).toEqual({
      "index.html": { type: "text/html; charset=utf-8", cache: "no-cache", file: "web/dist/index.html" },
      "assets/index-CG9OZwAn.js": { type: "text/javascript; charset=utf-8", cache: immutable, file: "web/dist/assets/index-CG9OZwAn.js" },
      "assets/index-Ba7QRxsp.css": { type: "text/css; charset=utf-8", cache: immutable, file: "web/dist/assets/index-Ba7QRxsp.css" },
      "favicon.svg": { type: "image/svg+xml", cache: "no-cache", file: "web/dist/favicon.svg" },
      "robots.txt": { type: "text/plain; charset=utf-8", cache: "no-cache", file: "web/dist/robots.txt" },
    });
    const bucket = one(plan(), "s3/bucket:Bucket");
    for (const o of objects) expect(o.bucket).toBe(bucket.id);
    const invalidate = props(one(plan(), "command:local:Command"));
    expect(invalidate.create).toBe(`aws cloudfront create-invalidation --distribution-id ${one(plan(), "distribution:Distribution").id} --paths '/*'`);
    expect(invalidate.triggers).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/)]);
  });

  it(env === "prod" ? "protects and retains every piece of data" : "protects nothing (dev frees everything on down)", () => {
    const data = plan().resources.filter((r) =>
      /replicationGroup:|advancedCluster:|index\/project:|s3\/bucket:Bucket|ecr\/repository:|secretsmanager\/secret:Secret/.test(r.type),
    );
    expect(data.length).toBeGreaterThanOrEqual(8);
    for (const r of data) expect(r.protect, r.name).toBe(env === "prod");
  });
});

describe("what a release ships", () => {
  const trigger = (plan: OfflinePlan) => props(one(plan, "command:local:Command")).triggers[0] as string;
  const tag = (plan: OfflinePlan) => props(one(plan, "docker-build:index:Image")).tags[0] as string;

  it("invalidates only when the upload changes; the image tag moves only with the build context", async () => {
    const same = await planOffline("dev", {}, { root: checkout() });
    expect(trigger(same)).toBe(trigger(plans.dev!));
    expect(tag(same)).toBe(tag(plans.dev!));
    // A new source file: a new image, the same upload (no invalidation).
    const source = await planOffline("dev", {}, { root: checkout({ "cli/vchat.ts": "console.log('vchat 2');\n" }) });
    expect(tag(source)).not.toBe(tag(plans.dev!));
    expect(trigger(source)).toBe(trigger(plans.dev!));
    // A file .dockerignore leaves out changes neither.
    const ignored = await planOffline("dev", {}, { root: checkout({ "tests/ignored.test.ts": "changed\n" }) });
    expect(tag(ignored)).toBe(tag(plans.dev!));
    // One byte of index.html: a new upload and an invalidation.
    const page = await planOffline("dev", {}, { root: checkout({ "web/dist/index.html": "<!doctype html>\n" }) });
    expect(trigger(page)).not.toBe(trigger(plans.dev!));
  });

  it("vchat:image runs a given image and builds nothing; it must be pinned", async () => {
    const given = `123456789012.dkr.ecr.eu-west-1.amazonaws.com/vchat-dev@sha256:${"a".repeat(64)}`;
    const plan = await planOffline("dev", { image: given }, { root });
    expect(plan.resources.some((r) => r.type === "docker-build:index:Image")).toBe(false);
    expect(JSON.parse(props(one(plan, "/taskDefinition:TaskDefinition")).containerDefinitions)[0].image).toBe(given);
    expect(plan.violations).toEqual([]);
    expect(offlineEnvConfig("dev", { image: "ghcr.io/example/vchat:git-0ff11e0" }).service.image).toBe("ghcr.io/example/vchat:git-0ff11e0");
    expect(() => offlineEnvConfig("dev", { image: "example/vchat:latest" })).toThrow(/vchat:image must be pinned by digest/);
    expect(() => offlineEnvConfig("dev", { image: "example/vchat" })).toThrow(/vchat:image must be pinned/);
  });

  it("a checkout without a Dockerfile or a web build: the plan says what `up` would refuse, and uploads and runs nothing", async () => {
    const bare = await planOffline("dev", {}, { root: checkout({ Dockerfile: undefined, "web/dist/index.html": undefined }) });
    expect(bare.notes).toEqual([
      expect.stringMatching(/^no Dockerfile in .* to build the service image from: run vchat up from a checkout, or set vchat:image$/),
      "web/dist is not built: run `npm run build:web` first (vchat up uploads it to the bucket)",
    ]);
    expect(bare.resources.filter((r) => /taskDefinition|bucketObjectv2|command:local/.test(r.type))).toEqual([]);
    expect(plans.dev!.notes).toEqual([]);
  });

  it("a real run refuses, before any resource, what it cannot ship or run on this machine", () => {
    const cfg = offlineEnvConfig("dev");
    const bare = checkout({ Dockerfile: undefined, "web/dist/index.html": undefined });
    expect(() => vchatProgram(cfg, { root: bare, which: () => "/usr/bin/x" })).toThrow(
      /^cannot ship dev:\n {2}no Dockerfile in .*\n {2}web\/dist is not built/,
    );
    expect(() => vchatProgram(cfg, { root, which: () => undefined })).toThrow(
      /docker is not on PATH: vchat up builds the service image with Docker \(buildx\)[\s\S]*the AWS CLI \(aws\) is not on PATH/,
    );
    // A given image needs no Docker here; a checkout without a web build needs no AWS CLI.
    expect(releaseToolProblems(readRelease(root, `example/vchat@sha256:${"b".repeat(64)}`), () => undefined)).toEqual([
      "the AWS CLI (aws) is not on PATH: vchat up invalidates CloudFront with it after an upload",
    ]);
    expect(releaseToolProblems(readRelease(bare, `example/vchat@sha256:${"b".repeat(64)}`), () => undefined)).toEqual([]);
  });
});

describe("without a TURN domain", () => {
  it("offers no turns: URL and no TLS listener under the NLB's own name (no certificate covers it)", async () => {
    const plan = await planOffline("dev", { turnDomain: undefined }, { root });
    expect((plan.outputs.turnUrls as string[]).some((u) => u.startsWith("turns:"))).toBe(false);
    expect(plan.resources.filter((r) => r.type.endsWith("/listener:Listener") && (r.props as any).protocol === "TLS")).toEqual([]);
  });
});

describe("environments differ where they should", () => {
  it("prod keeps data and runs more of everything", () => {
    const dev = offlineEnvConfig("dev");
    const prod = offlineEnvConfig("prod");
    expect(prod.azCount).toBeGreaterThan(dev.azCount);
    expect(prod.retainData && !dev.retainData).toBe(true);
    expect(plans.prod!.resources.length).toBeGreaterThan(plans.dev!.resources.length);
    const secret = (p: OfflinePlan) => props(p.resources.find((r) => r.type.endsWith("secretsmanager/secret:Secret"))!).recoveryWindowInDays;
    expect(secret(plans.prod!)).toBe(7);
    expect(secret(plans.dev!)).toBe(0);
  });

  it("adds the Kinesis signaling channel only when asked, with its ARN in the outputs", () => {
    const kvs = plans.kvs!;
    expect(kvs.resources.some((r) => r.type === "vchat:stacks:KinesisSignaling")).toBe(true);
    const cfn = props(kvs.resources.find((r) => r.type.endsWith("cloudformation/stack:Stack"))!);
    expect(JSON.parse(cfn.templateBody).Resources.Channel.Type).toBe("AWS::KinesisVideo::SignalingChannel");
    expect(kvs.outputs.kinesisChannelArn).toMatch(/^arn:aws:kinesisvideo:/);
  });
});

describe("stack configuration", () => {
  it("names every missing required key, each with the command that sets it", () => {
    expect(() => resolveEnvConfig("dev", {})).toThrow(ConfigError);
    const message = (() => {
      try {
        resolveEnvConfig("dev", {});
      } catch (err) {
        return (err as Error).message;
      }
    })()!;
    expect(
      message
        .split("\n")
        .slice(1)
        .map((l) => l.trim()),
    ).toEqual([
      "vchat:apiDomain is not set (pulumi config set vchat:apiDomain api.example.org)",
      "vchat:certificateArn is not set (pulumi config set vchat:certificateArn arn:aws:acm:<region>:<account>:certificate/<id>)",
      "vchat:atlasOrgId is not set (pulumi config set vchat:atlasOrgId <Atlas organisation id>)",
    ]);
    // prod also wants coturn from an ECR pull-through cache and pinned by digest; named in the same message.
    expect(() => resolveEnvConfig("prod", {})).toThrow(/atlasOrgId[\s\S]*dockerHubCredentialArn is not set[\s\S]*coturnImage must be pinned by digest/);
  });
  it("refuses a coturn older than 4.9 and unpinned images", () => {
    expect(() => offlineEnvConfig("dev", { coturnImage: "coturn/coturn:4.6.1" })).toThrow(/older than 4\.9\.0/);
    expect(() => offlineEnvConfig("dev", { coturnImage: "coturn/coturn:latest" })).toThrow(/pin a version/);
    expect(offlineEnvConfig("dev", { coturnImage: "coturn/coturn:4.9.0-alpine" }).turn.coturnImage).toBe("coturn/coturn:4.9.0-alpine");
  });
  it("checks certificate regions: the API's in the stack's region, CloudFront's in us-east-1", () => {
    const arn = (region: string) => `arn:aws:acm:${region}:123456789012:certificate/abc`;
    expect(() => offlineEnvConfig("dev", { certificateArn: arn("us-east-1") })).toThrow(
      /vchat:certificateArn is in us-east-1, but the load balancers are in eu-west-1/,
    );
    expect(() => offlineEnvConfig("dev", { webDomain: "chat.example.org", webCertificateArn: arn("eu-west-1") })).toThrow(
      /CloudFront needs a certificate in us-east-1/,
    );
    expect(() => offlineEnvConfig("dev", { webDomain: "chat.example.org" })).toThrow(/webDomain and vchat:webCertificateArn go together/);
    expect(offlineEnvConfig("dev", { webDomain: "chat.example.org", webCertificateArn: arn("us-east-1") }).webDomain).toBe("chat.example.org");
  });

  it("certificates must cover the API and TURN names (read at preview; one-label wildcards)", async () => {
    expect(certificateCovers(["*.example.org"], "api.example.org")).toBe(true);
    expect(certificateCovers(["*.example.org"], "a.b.example.org")).toBe(false);
    expect(certificateCovers(["example.org"], "api.example.org")).toBe(false);
    expect(certificateCovers(["API.Example.org"], "api.example.org")).toBe(true);
    const plan = await planOffline("dev", { apiDomain: "api.other.net" }, { root });
    expect(plan.violations).toEqual([
      expect.objectContaining({
        rule: "certificates-cover-domains",
        message: expect.stringMatching(/vchat:certificateArn .* does not cover api\.other\.net$/),
      }),
    ]);
  });

  it("a fresh stack needs exactly what Pulumi.yaml declares without a default, and docs/stacks.md lists", () => {
    const yaml = readFileSync(join(import.meta.dirname, "Pulumi.yaml"), "utf8");
    // Keys declared with a type and no default are the ones Pulumi demands of every stack.
    const declared = [...yaml.matchAll(/^ {2}vchat:(\w+):\n((?: {4}.*\n)*)/gm)]
      .filter((m) => !/^ {4}default:/m.test(m[2]!))
      .map((m) => m[1])
      .sort();
    expect(declared).toEqual(Object.keys(requiredKeys).sort());
    const docs = readFileSync(join(import.meta.dirname, "..", "docs", "stacks.md"), "utf8");
    const firstRun = [...docs.matchAll(/config set --stack dev vchat:(\w+) /g)].map((m) => m[1]).sort();
    expect(firstRun).toEqual(Object.keys(requiredKeys).sort());
    // And those settings are enough for dev.
    const example = Object.fromEntries(
      Object.entries(requiredKeys).map(([k]) => [
        k,
        k === "certificateArn" ? "arn:aws:acm:eu-west-1:123456789012:certificate/abc" : k === "apiDomain" ? "api.example.org" : "5f0000000000000000000000",
      ]),
    );
    expect(resolveEnvConfig("dev", example).apiDomain).toBe("api.example.org");
  });

  it("is frozen", () => {
    const cfg = offlineEnvConfig("dev");
    expect(Object.isFrozen(cfg) && Object.isFrozen(cfg.turn)).toBe(true);
  });
  it("converts CIDRs to coturn ranges", () => {
    expect(cidrToRange("10.20.0.0/16")).toBe("10.20.0.0-10.20.255.255");
    expect(cidrToRange("172.16.0.0/12")).toBe("172.16.0.0-172.31.255.255");
  });
});

// --- one test per rule: a violating resource is caught ---
const rec = (type: string, p: Record<string, unknown>, name = "bad"): ResourceRecord => ({ type, name, props: p });
const sg = (ingress: unknown[]) => rec("aws:ec2/securityGroup:SecurityGroup", { ingress });
const ud = (text: string) => Buffer.from(text).toString("base64");
const goodCoturn = (plans_: () => OfflinePlan) =>
  Buffer.from(String(plans_().resources.find((r) => r.type.endsWith("launchTemplate:LaunchTemplate"))!.props.userData), "base64").toString("utf8");
const violations = (name: string, r: ResourceRecord[]) =>
  checkAll(
    r,
    rules.filter((x) => x.name === name),
  );

describe("each security rule catches a violating resource", () => {
  it("has the rules the issue asks for", () => {
    expect(rules.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        "no-ssh-from-anywhere",
        "redis-encrypted",
        "imdsv2-required",
        "s3-public-access-blocked",
        "turn-denies-private-peers",
        "only-turn-and-web-ports-public",
      ]),
    );
    // And those of issue #16, each with a violating resource below.
    expect(rules.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        "turn-not-an-open-proxy",
        "atlas-not-open-to-the-internet",
        "images-immutable",
        "prod-data-protected",
        "security-group-ports-match-role",
        "turn-nlb-no-cross-zone",
        "web-index-not-cached",
        "cost-guards",
        "tls-names-covered",
        "service-rollout-checked",
        "turn-refresh-keeps-capacity",
        "monitoring-not-public",
        "s3-gateway-endpoint",
      ]),
    );
    // And issue #15's.
    expect(rules.map((r) => r.name)).toContain("alb-only-from-cloudfront");
  });

  it("alb-only-from-cloudfront", () => {
    const albSg = (ingress: unknown[]) => rec("aws:ec2/securityGroup:SecurityGroup", { ingress, tags: { "vchat:role": "alb" } });
    // Open to the world: anyone can skip CloudFront (and its secret header, and WAF, and caching).
    expect(
      violations("alb-only-from-cloudfront", [albSg([{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"], ipv6CidrBlocks: ["::/0"] }])]),
    ).toEqual([expect.objectContaining({ message: expect.stringMatching(/^ALB open to 0\.0\.0\.0\/0, ::\/0 on tcp 443-443: anyone can skip CloudFront/) })]);
    expect(violations("alb-only-from-cloudfront", [albSg([{ protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: ["pl-1"] }])])).toEqual([]);
    const listener = (type: string) => rec("aws:lb/listener:Listener", { protocol: "HTTPS", port: 443, defaultActions: [{ type }] });
    expect(violations("alb-only-from-cloudfront", [listener("forward")])).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/forwards by default/) }),
    ]);
    expect(violations("alb-only-from-cloudfront", [listener("fixed-response")])).toEqual([]);
    // Across the stack: an internet-facing ALB needs the rule that forwards on the header.
    const alb = rec("aws:lb/loadBalancer:LoadBalancer", { loadBalancerType: "application", internal: false });
    const headerRule = rec("aws:lb/listenerRule:ListenerRule", {
      actions: [{ type: "forward" }],
      conditions: [{ httpHeader: { httpHeaderName: "x-vchat-origin-verify", values: ["s"] } }],
    });
    expect(violations("alb-only-from-cloudfront", [alb])).toEqual([
      expect.objectContaining({ message: "no listener rule forwards on CloudFront's origin header" }),
    ]);
    expect(violations("alb-only-from-cloudfront", [alb, headerRule])).toEqual([]);
  });

  it("no-ssh-from-anywhere", () => {
    expect(violations("no-ssh-from-anywhere", [sg([{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }])])).toHaveLength(1);
    expect(violations("no-ssh-from-anywhere", [sg([{ protocol: "-1", fromPort: 0, toPort: 0, ipv6CidrBlocks: ["::/0"] }])])).toHaveLength(1);
    expect(
      violations("no-ssh-from-anywhere", [
        rec("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", { ipProtocol: "tcp", fromPort: 20, toPort: 25, cidrIpv4: "0.0.0.0/0" }),
      ]),
    ).toHaveLength(1);
    expect(violations("no-ssh-from-anywhere", [sg([{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["10.0.0.0/8"] }])])).toHaveLength(0);
  });

  it("only-turn-and-web-ports-public", () => {
    expect(violations("only-turn-and-web-ports-public", [sg([{ protocol: "tcp", fromPort: 6379, toPort: 6379, cidrBlocks: ["0.0.0.0/0"] }])])).toHaveLength(1);
    expect(violations("only-turn-and-web-ports-public", [sg([{ protocol: "udp", fromPort: 1000, toPort: 65535, cidrBlocks: ["0.0.0.0/0"] }])])).toHaveLength(1);
    expect(violations("only-turn-and-web-ports-public", [sg([{ protocol: "tcp", fromPort: 49152, toPort: 65535, cidrBlocks: ["0.0.0.0/0"] }])])).toHaveLength(
      1,
    );
    expect(
      violations("only-turn-and-web-ports-public", [
        sg([
          { protocol: "udp", fromPort: 49152, toPort: 65535, cidrBlocks: ["0.0.0.0/0"] },
          { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
        ]),
      ]),
    ).toHaveLength(0);
  });

  it("redis-encrypted", () => {
    const type = "aws:elasticache/replicationGroup:ReplicationGroup";
    expect(violations("redis-encrypted", [rec(type, { transitEncryptionEnabled: false, atRestEncryptionEnabled: true, authToken: "x" })])).toHaveLength(1);
    expect(violations("redis-encrypted", [rec(type, { transitEncryptionEnabled: true, atRestEncryptionEnabled: false, authToken: "x" })])).toHaveLength(1);
    expect(violations("redis-encrypted", [rec(type, { transitEncryptionEnabled: true, atRestEncryptionEnabled: true })])).toHaveLength(1);
    expect(violations("redis-encrypted", [rec("aws:elasticache/cluster:Cluster", { engine: "redis" })])).toHaveLength(1);
  });

  it("imdsv2-required", () => {
    const type = "aws:ec2/launchTemplate:LaunchTemplate";
    expect(violations("imdsv2-required", [rec(type, { metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 1 } })])).toHaveLength(1);
    expect(violations("imdsv2-required", [rec(type, { metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 } })])).toHaveLength(1);
    expect(violations("imdsv2-required", [rec("aws:ec2/instance:Instance", {})])).toHaveLength(2);
  });

  it("s3-public-access-blocked", () => {
    const pab = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock";
    expect(
      violations("s3-public-access-blocked", [
        rec(pab, { bucket: "b", blockPublicAcls: true, blockPublicPolicy: false, ignorePublicAcls: true, restrictPublicBuckets: true }),
      ]),
    ).toHaveLength(1);
    // A bucket without any block is caught by the stack-level check.
    expect(violations("s3-public-access-blocked", [{ type: "aws:s3/bucket:Bucket", name: "lonely", id: "lonely-123", props: {} }])).toEqual([
      expect.objectContaining({ resource: "lonely" }),
    ]);
    expect(
      violations("s3-public-access-blocked", [
        { type: "aws:s3/bucket:Bucket", name: "b", id: "b-1", props: { acl: "public-read" } },
        rec(pab, { bucket: "b-1", blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true }),
      ]),
    ).toHaveLength(1);
  });

  it("turn-denies-private-peers", () => {
    const type = "aws:ec2/launchTemplate:LaunchTemplate";
    const good = goodCoturn(() => plans.dev!);
    expect(violations("turn-denies-private-peers", [rec(type, { userData: ud(good) })])).toHaveLength(0);
    expect(violations("turn-denies-private-peers", [rec(type, { userData: ud(good.replace("denied-peer-ip=10.0.0.0-10.255.255.255\n", "")) })])).toEqual([
      expect.objectContaining({ message: "denied-peer-ip=10.0.0.0-10.255.255.255 missing" }),
    ]);
    expect(
      violations("turn-denies-private-peers", [
        rec(type, { userData: ud(good.replace("no-multicast-peers\n", "no-multicast-peers\nallow-loopback-peers\n")) }),
      ]),
    ).toEqual([expect.objectContaining({ message: "allow-loopback-peers is set" })]);
    expect(violations("turn-denies-private-peers", [rec(type, { userData: ud(good.replace("denied-peer-ip=169.254.169.254\n", "")) })])).toHaveLength(1);
  });

  it("coturn-version-pinned", () => {
    const type = "aws:ec2/launchTemplate:LaunchTemplate";
    const good = goodCoturn(() => plans.dev!);
    expect(violations("coturn-version-pinned", [rec(type, { userData: ud(good) })])).toHaveLength(0);
    expect(violations("coturn-version-pinned", [rec(type, { userData: ud(good.replace(/coturn\/coturn:[\w.]+/, "coturn/coturn:4.6.1")) })])).toEqual([
      expect.objectContaining({ message: "coturn 4.6.1 is older than 4.9.0" }),
    ]);
    // The pin the docs advise: a digest after the version (was reported "not pinned").
    const digest = `coturn/coturn:4.10.0@sha256:${"a".repeat(64)}`;
    expect(violations("coturn-version-pinned", [rec(type, { userData: ud(good.replace(/coturn\/coturn:[\w.]+/, digest)) })])).toEqual([]);
    expect(violations("coturn-version-pinned", [{ ...rec("vchat:stacks:Turn", { coturnImage: digest }), stack: "prod" }])).toEqual([]);
    expect(violations("coturn-version-pinned", [{ ...rec("vchat:stacks:Turn", { coturnImage: "coturn/coturn:4.10.0" }), stack: "prod" }])).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/not pinned by digest in prod/) }),
    ]);
    expect(violations("coturn-version-pinned", [rec(type, { userData: ud(good.replace(/coturn\/coturn:[\w.]+/, "coturn/coturn:latest")) })])).toHaveLength(1);
  });

  const turnComponent = () => plans.dev!.resources.find((r) => r.type === "vchat:stacks:Turn")!;
  const withCoturn = (patch: Record<string, unknown>) =>
    rec("vchat:stacks:Turn", { ...turnComponent().props, coturn: { ...(turnComponent().props.coturn as object), ...patch } });

  it("turn-not-an-open-proxy, from the generator's inputs (known at preview) and from the user data", () => {
    expect(violations("turn-not-an-open-proxy", [turnComponent()])).toEqual([]);
    expect(violations("turn-not-an-open-proxy", [withCoturn({ allowTcpRelay: true })])).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^no-tcp-relay is missing/) }),
    ]);
    expect(violations("turn-not-an-open-proxy", [withCoturn({ maxBps: 0 })])).toEqual([expect.objectContaining({ message: "max-bps is unlimited" })]);
    expect(violations("turn-not-an-open-proxy", [withCoturn({ bpsCapacity: 0 })])).toEqual([expect.objectContaining({ message: "bps-capacity is unlimited" })]);
    const good = goodCoturn(() => plans.dev!);
    expect(
      violations("turn-not-an-open-proxy", [rec("aws:ec2/launchTemplate:LaunchTemplate", { userData: ud(good.replace("no-tcp-relay\n", "")) })]),
    ).toHaveLength(1);
    // The deny-list rule reads the same inputs.
    expect(violations("turn-denies-private-peers", [withCoturn({ mode: "local" })])).toEqual(
      expect.arrayContaining([expect.objectContaining({ message: "allow-loopback-peers is set" })]),
    );
  });

  it("atlas-not-open-to-the-internet", () => {
    const type = "mongodbatlas:index/projectIpAccessList:ProjectIpAccessList";
    expect(violations("atlas-not-open-to-the-internet", [rec(type, { cidrBlock: "0.0.0.0/0" })])).toHaveLength(1);
    expect(violations("atlas-not-open-to-the-internet", [rec(type, { ipAddress: "203.0.113.9" })])).toHaveLength(0);
  });

  it("redis-encrypted refuses transitEncryptionMode preferred", () => {
    const type = "aws:elasticache/replicationGroup:ReplicationGroup";
    expect(
      violations("redis-encrypted", [
        rec(type, { transitEncryptionEnabled: true, transitEncryptionMode: "preferred", atRestEncryptionEnabled: true, authToken: "x" }),
      ]),
    ).toEqual([expect.objectContaining({ message: expect.stringMatching(/preferred/) })]);
  });

  it("images-immutable", () => {
    expect(violations("images-immutable", [rec("aws:ecr/repository:Repository", { imageTagMutability: "MUTABLE" })])).toHaveLength(1);
    const task = (image: string) => rec("aws:ecs/taskDefinition:TaskDefinition", { containerDefinitions: JSON.stringify([{ name: "vchat", image }]) });
    expect(violations("images-immutable", [task("1.dkr.ecr.eu-west-1.amazonaws.com/vchat-dev:latest")])).toHaveLength(1);
    expect(violations("images-immutable", [task("1.dkr.ecr.eu-west-1.amazonaws.com/vchat-dev")])).toHaveLength(1);
    expect(violations("images-immutable", [task("1.dkr.ecr.eu-west-1.amazonaws.com/vchat-dev:git-3f2a9c1")])).toHaveLength(0);
    expect(violations("images-immutable", [rec("vchat:stacks:Turn", { coturnImage: "coturn/coturn:latest" })])).toHaveLength(1);
  });

  it("prod-data-protected", () => {
    const redis = { ...rec("aws:elasticache/replicationGroup:ReplicationGroup", { finalSnapshotIdentifier: "vchat-prod-redis-final" }), stack: "prod" };
    expect(violations("prod-data-protected", [redis])).toHaveLength(1);
    expect(violations("prod-data-protected", [{ ...redis, protect: true }])).toHaveLength(0);
    expect(violations("prod-data-protected", [{ ...redis, stack: "dev" }])).toHaveLength(0);
    expect(violations("prod-data-protected", [{ ...rec("mongodbatlas:index/advancedCluster:AdvancedCluster", {}), stack: "prod" }])).toHaveLength(1);
  });

  it("security-group-ports-match-role", () => {
    const group = (role: string | undefined, ingress: unknown[]) =>
      rec("aws:ec2/securityGroup:SecurityGroup", { ingress, tags: role ? { "vchat:role": role } : {} });
    const https = { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] };
    const fromCloudFront = { protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: ["pl-1"] };
    expect(violations("security-group-ports-match-role", [group("alb", [fromCloudFront])])).toHaveLength(0);
    expect(violations("security-group-ports-match-role", [group("alb", [https])])).toHaveLength(1);
    // A port that is fine for one role is a finding on another.
    expect(violations("security-group-ports-match-role", [group("turn", [https])])).toHaveLength(1);
    expect(
      violations("security-group-ports-match-role", [group("tasks", [{ protocol: "tcp", fromPort: 8080, toPort: 8080, cidrBlocks: ["0.0.0.0/0"] }])]),
    ).toHaveLength(1);
    expect(
      violations("security-group-ports-match-role", [group("tasks", [{ protocol: "tcp", fromPort: 8080, toPort: 8080, securityGroups: ["sg-1"] }])]),
    ).toHaveLength(0);
    expect(
      violations("security-group-ports-match-role", [group("alb", [{ protocol: "udp", fromPort: 3478, toPort: 3478, cidrBlocks: ["0.0.0.0/0"] }])]),
    ).toHaveLength(1);
    expect(violations("security-group-ports-match-role", [group(undefined, [])])).toHaveLength(1);
    // A separate ingress rule is judged by the role of the group it names (the planned Redis one).
    const redisSg = plans.dev!.resources.find((r) => r.name.endsWith("redis-sg"))!;
    const planned = plans.dev!.resources.find((r) => r.type.endsWith("securityGroupIngressRule:SecurityGroupIngressRule"))!;
    expect(props(planned).securityGroupId).toBe(redisSg.id);
    expect(violations("security-group-ports-match-role", [redisSg, planned])).toEqual([]);
    const wide = rec("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", {
      securityGroupId: redisSg.id,
      ipProtocol: "tcp",
      fromPort: 6379,
      toPort: 6379,
      cidrIpv4: "10.20.0.0/16",
    });
    expect(violations("security-group-ports-match-role", [redisSg, wide])).toEqual([
      expect.objectContaining({ message: "redis group allows tcp 6379-6379 from 10.20.0.0/16" }),
    ]);
  });

  it("tls-names-covered", () => {
    const task = (turnUrls: string) =>
      rec("aws:ecs/taskDefinition:TaskDefinition", { containerDefinitions: JSON.stringify([{ environment: [{ name: "VCHAT_TURN_URLS", value: turnUrls }] }]) });
    expect(
      violations("tls-names-covered", [task("turn:x.elb.eu-west-1.amazonaws.com:3478?transport=udp,turns:x.elb.eu-west-1.amazonaws.com:5349?transport=tcp")]),
    ).toEqual([expect.objectContaining({ message: expect.stringMatching(/^VCHAT_TURN_URLS offers turns:x\.elb/) })]);
    expect(violations("tls-names-covered", [task("turn:x.elb.eu-west-1.amazonaws.com:3478?transport=udp,turns:turn.example.org:5349?transport=tcp")])).toEqual(
      [],
    );
  });

  it("service-rollout-checked, turn-refresh-keeps-capacity", () => {
    expect(violations("service-rollout-checked", [rec("aws:ecs/service:Service", { deploymentCircuitBreaker: { enable: true, rollback: true } })])).toEqual([
      expect.objectContaining({ message: expect.stringMatching(/^waitForSteadyState/) }),
    ]);
    expect(
      violations("turn-refresh-keeps-capacity", [
        rec("aws:autoscaling/group:Group", { minSize: 1, instanceRefresh: { strategy: "Rolling", preferences: { minHealthyPercentage: 50 } } }),
      ]),
    ).toHaveLength(1);
  });

  it("prod-data-protected wants Redis's final snapshot", () => {
    const redis = { ...rec("aws:elasticache/replicationGroup:ReplicationGroup", {}), stack: "prod", protect: true };
    expect(violations("prod-data-protected", [redis])).toEqual([expect.objectContaining({ message: expect.stringMatching(/finalSnapshotIdentifier/) })]);
  });

  it("monitoring-not-public, s3-gateway-endpoint (across the stack)", () => {
    const all = plans.prod!.resources.filter((r) => !r.component);
    expect(
      violations(
        "monitoring-not-public",
        all.filter((r) => !r.type.endsWith("listenerRule:ListenerRule")),
      ).map((v) => v.message),
    ).toEqual(["no fixed-response rule for /metrics*, /readyz*"]);
    expect(
      violations(
        "s3-gateway-endpoint",
        all.filter((r) => !(r.type.endsWith("vpcEndpoint:VpcEndpoint") && (r.props as any).vpcEndpointType === "Gateway")),
      ).map((v) => v.message),
    ).toEqual(["no S3 gateway endpoint"]);
  });

  it("turn-nlb-no-cross-zone, web-index-not-cached, cost-guards", () => {
    expect(
      violations("turn-nlb-no-cross-zone", [rec("aws:lb/loadBalancer:LoadBalancer", { loadBalancerType: "network", enableCrossZoneLoadBalancing: true })]),
    ).toHaveLength(1);
    expect(
      violations("web-index-not-cached", [
        rec("aws:cloudfront/distribution:Distribution", { defaultCacheBehavior: { viewerProtocolPolicy: "redirect-to-https" } }),
      ]),
    ).toHaveLength(1);
    const withoutGuards = plans.dev!.resources.filter((r) => !r.component && !/budget|metricAlarm/.test(r.type));
    expect(violations("cost-guards", withoutGuards).map((v) => v.message)).toEqual(["no AWS budget", "no alarm on TURN NetworkOut"]);
  });

  it("https-only", () => {
    expect(
      violations("https-only", [rec("aws:cloudfront/distribution:Distribution", { defaultCacheBehavior: { viewerProtocolPolicy: "allow-all" } })]),
    ).toHaveLength(1);
    expect(
      violations("https-only", [rec("aws:lb/listener:Listener", { protocol: "HTTP", port: 80, defaultActions: [{ type: "forward", targetGroupArn: "x" }] })]),
    ).toHaveLength(1);
  });
});
