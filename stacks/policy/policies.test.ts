import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { beforeAll, describe, expect, it } from "vitest";
import { planFleetOffline, planOffline, type OfflinePlan } from "../offline.ts";
import { rules } from "../rules.ts";
import { policies } from "./policies.ts";

let plan: OfflinePlan;
beforeAll(async () => {
  plan = await planOffline("prod");
}, 60_000);

const resourcePolicies = policies.filter((p): p is ResourceValidationPolicy => "validateResource" in p);
const stackPolicies = policies.filter((p): p is StackValidationPolicy => "validateStack" in p);

/** Calls every resource policy as the policy SDK does: inputs, options, and a URN naming the stack. */
function validate(type: string, props: Record<string, unknown>, name = "r", o: { stack?: string; protect?: boolean } = {}): string[] {
  const found: string[] = [];
  for (const p of resourcePolicies) {
    const fn = p.validateResource as (args: unknown, report: (m: string) => void) => void;
    fn({ type, name, props, opts: { protect: o.protect ?? false }, urn: `urn:pulumi:${o.stack ?? "s"}::vchat::${type}::${name}` }, (m) =>
      found.push(`${p.name}: ${m}`),
    );
  }
  return found;
}

function policyResource(type: string, name: string, deps: PolicyResource[] = []): PolicyResource {
  return {
    type,
    name,
    urn: `urn:pulumi:s::vchat::${type}::${name}`,
    props: {},
    dependencies: deps,
    propertyDependencies: deps.length ? { bucket: deps } : {},
  } as unknown as PolicyResource;
}

describe("the policy pack", () => {
  it("carries every security rule, all mandatory", () => {
    for (const rule of rules)
      expect(
        policies.some((p) => p.name === rule.name || p.name === `${rule.name}-stack`),
        rule.name,
      ).toBe(true);
    for (const p of policies) expect(p.enforcementLevel).toBe("mandatory");
  });

  it("passes the prod stack as planned on the mocks (masked secrets count as set), components included", () => {
    const problems = plan.resources.flatMap((r) => validate(r.type, r.props, r.name, { stack: "prod", protect: r.protect }));
    expect(problems).toEqual([]);
  });

  it("prod data needs protect, read from the resource options and the stack in the URN", () => {
    const redis = plan.resources.find((r) => r.type === "aws:elasticache/replicationGroup:ReplicationGroup")!;
    expect(validate(redis.type, redis.props, redis.name, { stack: "prod", protect: false })).toEqual([expect.stringMatching(/^prod-data-protected:/)]);
    expect(validate(redis.type, redis.props, redis.name, { stack: "dev", protect: false })).toEqual([]);
  });

  it("checks TURN at preview from the Turn component's inputs while the launch template's user data is unknown", () => {
    const turn = plan.resources.find((r) => r.type === "vchat:stacks:Turn")!;
    const coturn = { ...(turn.props.coturn as object), allowTcpRelay: true };
    expect(validate(turn.type, { ...turn.props, coturn }, turn.name, { stack: "prod" })).toEqual([
      expect.stringMatching(/^turn-not-an-open-proxy: no-tcp-relay is missing/),
    ]);
    expect(validate(turn.type, { ...turn.props, coturnImage: "coturn/coturn:4.10.0" }, turn.name, { stack: "prod" })).toEqual([
      expect.stringMatching(/^coturn-version-pinned: .*not pinned by digest in prod/),
    ]);
  });

  it("reports an ALB open to the world (it must answer CloudFront only)", () => {
    const open = { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] };
    expect(validate("aws:ec2/securityGroup:SecurityGroup", { ingress: [open], tags: { "vchat:role": "alb" } })).toEqual([
      expect.stringMatching(/^security-group-ports-match-role: alb group allows tcp 443-443 from 0\.0\.0\.0\/0/),
      expect.stringMatching(/^alb-only-from-cloudfront: ALB open to 0\.0\.0\.0\/0/),
    ]);
    expect(validate("aws:lb/listener:Listener", { protocol: "HTTPS", port: 443, defaultActions: [{ type: "forward", targetGroupArn: "tg" }] })).toEqual([
      expect.stringMatching(/^alb-only-from-cloudfront: the HTTPS listener forwards by default/),
    ]);
  });

  it("reports a violating resource", () => {
    expect(validate("aws:ec2/securityGroup:SecurityGroup", { ingress: [{ protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["0.0.0.0/0"] }] })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^no-ssh-from-anywhere:/), expect.stringMatching(/^only-turn-and-web-ports-public:/)]),
    );
    expect(
      validate("aws:elasticache/replicationGroup:ReplicationGroup", { transitEncryptionEnabled: false, atRestEncryptionEnabled: true, authToken: "t" }),
    ).toEqual([expect.stringMatching(/^redis-encrypted: transitEncryptionEnabled/)]);
  });

  it("stack rules read the constant inputs they need from the policy resources", () => {
    const run = (name: string, resources: PolicyResource[]) => {
      const found: string[] = [];
      const p = stackPolicies.find((x) => x.name === name)!;
      (p.validateStack as (a: unknown, r: (m: string) => void) => void)({ resources }, (m) => found.push(m));
      return found;
    };
    const asPolicy = (r: (typeof plan.resources)[number]) =>
      ({
        type: r.type,
        name: r.name,
        urn: `urn:pulumi:prod::vchat::${r.type}::${r.name}`,
        props: r.props,
        dependencies: [],
        propertyDependencies: {},
      }) as unknown as PolicyResource;
    const all = plan.resources.filter((r) => !r.component).map(asPolicy);
    for (const name of [
      "monitoring-not-public-stack",
      "s3-gateway-endpoint-stack",
      "cost-guards-stack",
      "security-group-ports-match-role-stack",
      "alb-only-from-cloudfront-stack",
    ])
      expect(run(name, all), name).toEqual([]);
    // An ingress rule names its group through a property dependency (its id is unknown at preview).
    const redisSg = all.find((r) => r.name.endsWith("redis-sg"))!;
    const wide = {
      type: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
      name: "wide",
      urn: "urn:pulumi:prod::vchat::x::wide",
      props: { ipProtocol: "tcp", fromPort: 6379, toPort: 6379, cidrIpv4: "0.0.0.0/0" },
      dependencies: [redisSg],
      propertyDependencies: { securityGroupId: [redisSg] },
    } as unknown as PolicyResource;
    expect(run("security-group-ports-match-role-stack", [...all, wide])).toEqual(["wide: redis group allows tcp 6379-6379 from 0.0.0.0/0"]);
    expect(
      run(
        "cost-guards-stack",
        all.filter((r) => !r.type.endsWith("metricAlarm:MetricAlarm")),
      ),
    ).toEqual(["stack: no alarm on TURN NetworkOut"]);
  });

  it("ties a public access block to its bucket through dependencies (names are unknown in previews)", () => {
    const stackCheck = stackPolicies.find((p) => p.name === "s3-public-access-blocked-stack")!;
    const run = (resources: PolicyResource[]) => {
      const found: string[] = [];
      (stackCheck.validateStack as (a: unknown, r: (m: string) => void) => void)({ resources }, (m) => found.push(m));
      return found;
    };
    const bucket = policyResource("aws:s3/bucket:Bucket", "web");
    const lonely = policyResource("aws:s3/bucket:Bucket", "logs");
    const block = policyResource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "web-block", [bucket]);
    expect(run([bucket, block])).toEqual([]);
    expect(run([bucket, block, lonely])).toEqual(["logs: bucket has no public access block"]);
  });
});

describe("the policy pack on a bots fleet", () => {
  const asPolicy = (r: { type: string; name: string; props: Record<string, unknown> }, propertyDependencies: Record<string, PolicyResource[]> = {}) =>
    ({
      type: r.type,
      name: r.name,
      urn: `urn:pulumi:eu::vchat-fleet::${r.type}::${r.name}`,
      props: r.props,
      dependencies: Object.values(propertyDependencies).flat(),
      propertyDependencies,
    }) as unknown as PolicyResource;
  const runStack = (resources: PolicyResource[]) => {
    const found: string[] = [];
    for (const p of stackPolicies) (p.validateStack as (a: unknown, r: (m: string) => void) => void)({ resources }, (m) => found.push(`${p.name}: ${m}`));
    return found;
  };

  it("passes the fleet as planned, resource and stack rules", async () => {
    const fleet = await planFleetOffline({ calls: 100, workers: 2, media: "synthetic" });
    expect(fleet.resources.flatMap((r) => validate(r.type, r.props, r.name, { stack: "eu" }))).toEqual([]);
    expect(runStack(fleet.resources.filter((r) => !r.component).map((r) => asPolicy(r)))).toEqual([]);
  }, 60_000);

  it("iam-least-privilege: a wildcard action, or a named action on every resource", () => {
    const policy = (Action: string[], Resource: string[]) => ({
      policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action, Resource }] }),
    });
    expect(validate("aws:iam/rolePolicy:RolePolicy", policy(["s3:GetObject"], ["*"]))).toEqual(['iam-least-privilege: s3:GetObject on every resource ("*")']);
    expect(validate("aws:iam/rolePolicy:RolePolicy", policy(["ecs:*"], ["arn:aws:ecs:eu-west-1:123456789012:cluster/x"]))).toEqual([
      "iam-least-privilege: action ecs:* grants a whole service",
    ]);
    expect(validate("aws:iam/rolePolicy:RolePolicy", policy(["ecr:GetAuthorizationToken"], ["*"]))).toEqual([]);
  });

  it("logs-expire: a log group kept forever", () => {
    expect(validate("aws:cloudwatch/logGroup:LogGroup", { name: "/vchat/fleet/eu" })).toEqual(["logs-expire: retentionInDays is not set: logs never expire"]);
    expect(validate("aws:cloudwatch/logGroup:LogGroup", { name: "/vchat/fleet/eu", retentionInDays: 3 })).toEqual([]);
  });

  it("the workers' group takes no ingress at all", () => {
    const sg = { ingress: [{ protocol: "tcp", fromPort: 9229, toPort: 9229, cidrBlocks: ["10.0.0.0/8"] }], tags: { "vchat:role": "bots" } };
    expect(validate("aws:ec2/securityGroup:SecurityGroup", sg)).toEqual(["security-group-ports-match-role: bots group allows tcp 9229-9229 from 10.0.0.0/8"]);
  });

  it("task-role-without-permissions: a policy attached to the workers' task role, named by dependency", () => {
    const role = asPolicy({ type: "aws:iam/role:Role", name: "task-role", props: { tags: { "vchat:role": "no-permissions" } } });
    const other = asPolicy({ type: "aws:iam/role:Role", name: "exec-role", props: {} });
    const attach = (name: string, to: PolicyResource) =>
      asPolicy(
        { type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment", name, props: { policyArn: "arn:aws:iam::aws:policy/AdministratorAccess" } },
        { role: [to] },
      );
    expect(runStack([role, other, attach("admin", role), attach("fine", other)])).toEqual([
      `task-role-without-permissions-stack: admin: grants permissions to the no-permissions role ${role.urn}`,
    ]);
  });
});
