/** Key settings of a planned resource, one short line each, for the offline preview. */
import type { ResourceRecord } from "./rules.ts";
import { ingressOf } from "./rules.ts";
import { embeddedCoturnConfig } from "./turn-userdata.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- resource inputs as Pulumi records them, of any shape
type Props = Record<string, any>;

const onOff = (v: unknown) => (v === true || v === "true" ? "on" : "off");

function ports(from: number, to: number) {
  return from === to ? `${from}` : `${from}-${to}`;
}

function userDataOf(p: Props): string | undefined {
  return typeof p.userData === "string" ? Buffer.from(p.userData, "base64").toString("utf8") : undefined;
}

function policyActions(policy: unknown): string[] {
  try {
    const doc = typeof policy === "string" ? JSON.parse(policy) : policy;
    return (doc?.Statement ?? []).flatMap((s: Props) => [].concat(s.Action ?? []).map((a: string) => `${s.Effect ?? "Allow"} ${a}`));
  } catch {
    return [];
  }
}

/** Key settings, with `protected` first for data that outlives `vchat down`. */
export function keySettings(r: ResourceRecord): string[] {
  // Components (vchat:stacks:Service, ...) share short names with cloud types but have none of their inputs.
  if (r.type.startsWith("vchat:")) return [];
  return [...(r.protect ? ["protected: kept on vchat down"] : []), ...settingsOf(r)];
}

function settingsOf(r: ResourceRecord): string[] {
  const p = r.props as Props;
  const short = r.type.split(":").pop() ?? r.type;
  switch (short) {
    case "Vpc":
      return [`cidr ${p.cidrBlock}`];
    case "Subnet":
      return [`${p.cidrBlock} in ${p.availabilityZone}`, `public IP on launch ${onOff(p.mapPublicIpOnLaunch)}`];
    case "DefaultSecurityGroup":
      return [`rules: ${(p.ingress?.length ?? 0) + (p.egress?.length ?? 0)} (locked down)`];
    case "NatGateway":
      return ["NAT egress"];
    case "SecurityGroup":
    case "SecurityGroupIngressRule": {
      const ing = ingressOf(r).map(
        (i) =>
          `in ${i.protocol === "-1" ? "all" : `${i.protocol} ${ports(i.from, i.to)}`} from ${[...i.cidrs, ...i.prefixLists.map((l) => `prefix list ${l}`)].join(", ") || "security group"}`,
      );
      return ing.length ? ing : ["in: nothing"];
    }
    case "LoadBalancer":
      return [
        `${p.loadBalancerType} ${p.internal ? "internal" : "internet-facing"}`,
        ...(p.idleTimeout ? [`idle timeout ${p.idleTimeout}s`] : []),
        ...(p.dropInvalidHeaderFields ? ["drops invalid headers"] : []),
      ];
    case "Listener": {
      const a = p.defaultActions?.[0] ?? {};
      const action = a.type === "redirect" ? `redirect to ${a.redirect?.protocol}:${a.redirect?.port}` : a.type;
      return [`${p.protocol} ${p.port} → ${action}`, ...(p.sslPolicy ? [`TLS policy ${p.sslPolicy}`] : [])];
    }
    case "TargetGroup":
      return [
        `${p.protocol} ${p.port} (${p.targetType})`,
        `health ${p.healthCheck?.protocol ?? "HTTP"}${p.healthCheck?.path ? ` ${p.healthCheck.path}` : ""}${p.healthCheck?.port ? ` :${p.healthCheck.port}` : ""}`,
        ...(p.stickiness ? [`stickiness ${onOff(p.stickiness.enabled)}`] : []),
        `deregistration delay ${p.deregistrationDelay ?? 300}s`,
      ];
    case "ReplicationGroup":
      return [
        `${p.engine} ${p.engineVersion} × ${p.numCacheClusters} (${p.nodeType})`,
        `TLS in transit ${onOff(p.transitEncryptionEnabled)}, at rest ${onOff(p.atRestEncryptionEnabled)}, auth token ${p.authToken ? "on" : "off"}`,
        `Multi-AZ ${onOff(p.multiAzEnabled)}, automatic failover ${onOff(p.automaticFailoverEnabled)}`,
      ];
    case "LaunchTemplate": {
      const ud = userDataOf(p);
      const conf = ud ? embeddedCoturnConfig(ud) : undefined;
      const image = ud ? /^IMAGE="([^"\n]*)"/m.exec(ud)?.[1] : undefined;
      return [
        `${p.instanceType}, public IP ${onOff(p.networkInterfaces?.[0]?.associatePublicIpAddress)}`,
        `IMDS tokens ${p.metadataOptions?.httpTokens}, hop limit ${p.metadataOptions?.httpPutResponseHopLimit}`,
        `root volume encrypted ${onOff(p.blockDeviceMappings?.[0]?.ebs?.encrypted)}`,
        ...(image ? [`coturn ${image}`] : []),
        ...(conf
          ? [
              `coturn config: ${conf.split("\n").filter((l) => l.startsWith("denied-peer-ip=")).length} denied peer ranges, ${conf.includes("allow-loopback-peers") ? "ALLOWS" : "no"} loopback peers, relay ${/min-port=(\d+)/.exec(conf)?.[1]}-${/max-port=(\d+)/.exec(conf)?.[1]}`,
              `TCP relays ${conf.includes("\nno-tcp-relay\n") ? "refused" : "ALLOWED"}, max ${/max-bps=(\d+)/.exec(conf)?.[1]} B/s per session, ${/bps-capacity=(\d+)/.exec(conf)?.[1]} B/s per instance`,
            ]
          : []),
      ];
    }
    case "Group":
      return [
        `${p.minSize}-${p.maxSize} instances, health ${p.healthCheckType}`,
        `refresh keeps ${p.instanceRefresh?.preferences?.minHealthyPercentage ?? 90} % healthy`,
        ...(p.initialLifecycleHooks ?? []).map((h: Props) => `hook ${h.name} on ${h.lifecycleTransition} (${h.heartbeatTimeout}s)`),
      ];
    case "Policy":
      if (p.targetTrackingConfiguration)
        return [`track ${p.targetTrackingConfiguration.predefinedMetricSpecification?.predefinedMetricType} at ${p.targetTrackingConfiguration.targetValue}`];
      if (p.targetTrackingScalingPolicyConfiguration)
        return [
          `track ${p.targetTrackingScalingPolicyConfiguration.predefinedMetricSpecification?.predefinedMetricType} at ${p.targetTrackingScalingPolicyConfiguration.targetValue}`,
        ];
      return [];
    case "BucketPublicAccessBlock":
      return [
        `block public ACLs ${onOff(p.blockPublicAcls)}, policy ${onOff(p.blockPublicPolicy)}, ignore ACLs ${onOff(p.ignorePublicAcls)}, restrict ${onOff(p.restrictPublicBuckets)}`,
      ];
    case "BucketServerSideEncryptionConfiguration":
      return [`encryption ${p.rules?.[0]?.applyServerSideEncryptionByDefault?.sseAlgorithm}`];
    case "Distribution":
      return [
        `viewer ${p.defaultCacheBehavior?.viewerProtocolPolicy}`,
        `TLS ≥ ${p.viewerCertificate?.minimumProtocolVersion}`,
        `origin via OAC ${p.origins?.[0]?.originAccessControlId ? "on" : "off"}`,
        `origins ${(p.origins ?? []).map((o: Props) => `${o.originId}: ${o.domainName}`).join(", ")}`,
        `behaviours ${[...(p.orderedCacheBehaviors ?? []), { pathPattern: "*", ...p.defaultCacheBehavior }].map((b: Props) => `${b.pathPattern} → ${b.targetOriginId}${b.cachePolicyId === "4135ea2d-6df8-44a3-9df3-4b5a84be39ad" ? " (uncached)" : ""}`).join(", ")}`,
      ];
    case "OriginAccessControl":
      return [`signing ${p.signingBehavior} (${p.signingProtocol})`];
    case "AdvancedCluster": {
      const rc = p.replicationSpecs?.[0]?.regionConfigs?.[0] ?? {};
      return [
        `${p.clusterType} ${rc.electableSpecs?.instanceSize} × ${rc.electableSpecs?.nodeCount} in ${rc.providerName} ${rc.regionName}`,
        `MongoDB ${p.mongoDbMajorVersion}, backup ${onOff(p.backupEnabled)}`,
      ];
    }
    case "ProjectIpAccessList":
      return [`allow ${p.ipAddress ?? p.cidrBlock}`];
    case "DatabaseUser":
      return [`${p.username}: ${(p.roles ?? []).map((x: Props) => `${x.roleName}@${x.databaseName}`).join(", ")}`];
    case "Secret":
      return [`recovery window ${p.recoveryWindowInDays} days`];
    case "Service":
      return [
        `${p.launchType}, ${p.desiredCount} task(s), public IP ${onOff(p.networkConfiguration?.assignPublicIp)}`,
        `circuit breaker ${onOff(p.deploymentCircuitBreaker?.enable)}, waits for steady state ${onOff(p.waitForSteadyState)}`,
      ];
    case "TaskDefinition": {
      let secrets: string[] = [];
      let image: string | undefined;
      let command: string[] = [];
      try {
        const container = JSON.parse(p.containerDefinitions)[0];
        secrets = (container.secrets ?? []).map((s: Props) => s.name);
        image = container.image;
        command = container.command ?? [];
      } catch {
        // unknown at plan time
      }
      return [
        `cpu ${p.cpu}, memory ${p.memory}`,
        ...(image ? [`image ${image}`] : []),
        ...(command.length ? [`command ${command.join(" ")}`] : []),
        ...(secrets.length ? [`secrets from Secrets Manager: ${secrets.join(", ")}`] : []),
      ];
    }
    case "RolePolicy":
      return policyActions(p.policy);
    case "RolePolicyAttachment":
      return [`${String(p.policyArn).split("/").pop()}`];
    case "Repository":
      return [`scan on push ${onOff(p.imageScanningConfiguration?.scanOnPush)}, tags ${String(p.imageTagMutability ?? "MUTABLE").toLowerCase()}`];
    case "VpcEndpoint":
      return [`${p.vpcEndpointType} endpoint ${p.serviceName}`];
    case "ListenerRule": {
      const c = p.conditions?.[0] ?? {};
      const when = c.httpHeader ? `header ${c.httpHeader.httpHeaderName}` : (c.pathPattern?.values ?? []).join(", ");
      return [`${when} → ${p.actions?.[0]?.fixedResponse?.statusCode ?? p.actions?.[0]?.type}`];
    }
    case "Image":
      return [
        `build ${p.dockerfile?.location ? "Dockerfile" : "?"} for ${(p.platforms ?? []).join(", ")}${p.buildOnPreview === false ? " (not during previews)" : ""}`,
        ...(p.tags ?? []).map((t: string) => `${p.push ? "push" : "tag"} ${t}`),
      ];
    case "BucketObjectv2":
      return [`${p.key}: ${p.contentType}, ${p.cacheControl}`];
    case "Command":
      return [`runs ${p.create}`, ...(p.triggers?.length ? [`again when the upload changes (${String(p.triggers[0]).slice(0, 12)})`] : [])];
    case "MetricAlarm":
      return [`${p.metricName} ${p.statistic} over ${p.period}s > ${p.threshold}`];
    case "LogGroup":
      return [`retention ${p.retentionInDays ?? "forever"} days`];
    case "Budget":
      return [`${p.limitAmount} ${p.limitUnit} per ${String(p.timeUnit).toLowerCase()}`];
    case "Target":
      return [`${p.minCapacity}-${p.maxCapacity} tasks`];
    default:
      return [];
  }
}
