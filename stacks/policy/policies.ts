/**
 * The vchat security rules (`stacks/rules.ts`) as Pulumi policies. Kept apart from `index.ts`
 * because constructing a `PolicyPack` starts its gRPC server; tests import this file instead.
 */
import type { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { resourceTypes, rules, type ResourceRecord } from "../rules.ts";

const bucketTypes = new Set<string>([resourceTypes.bucket, resourceTypes.bucketV2]);

/**
 * Stack-level records: during a preview a new bucket's name is unknown, so a block is tied to
 * its bucket through the dependency the engine records (`bucket: bucket.id`) instead.
 */
export function stackRecords(resources: PolicyResource[]): ResourceRecord[] {
  return resources.map((r) => {
    if (bucketTypes.has(r.type)) return { type: r.type, name: r.name, id: r.urn, props: {} };
    if (r.type === resourceTypes.publicAccessBlock) {
      const bucket = (r.propertyDependencies?.bucket ?? r.dependencies).find((d) => bucketTypes.has(d.type));
      return { type: r.type, name: r.name, props: { bucket: bucket?.urn ?? "" } };
    }
    // Stack rules read a few inputs that are constants of the program, known at preview.
    const keep: Record<string, string[]> = {
      [resourceTypes.alarm]: ["metricName"],
      [resourceTypes.loadBalancer]: ["loadBalancerType", "internal"],
      [resourceTypes.listenerRule]: ["actions", "conditions"],
      [resourceTypes.vpcEndpoint]: ["vpcEndpointType", "serviceName"],
    };
    if (r.type === resourceTypes.sg || r.type === resourceTypes.role) return { type: r.type, name: r.name, id: r.urn, props: { tags: r.props.tags } };
    if (r.type === resourceTypes.rolePolicy || r.type === resourceTypes.rolePolicyAttachment) {
      // The role's id (its name) is unknown at preview: name it by the dependency, as above.
      const role = (r.propertyDependencies?.role ?? []).find((d) => d.type === resourceTypes.role);
      return { type: r.type, name: r.name, props: { role: role?.urn ?? "" } };
    }
    if (r.type === resourceTypes.ingressRule) {
      const group = (r.propertyDependencies?.securityGroupId ?? []).find((d) => d.type === resourceTypes.sg);
      const { ipProtocol, fromPort, toPort, cidrIpv4, cidrIpv6, referencedSecurityGroupId } = r.props as Record<string, unknown>;
      return {
        type: r.type,
        name: r.name,
        props: {
          securityGroupId: group?.urn ?? "",
          ipProtocol,
          fromPort,
          toPort,
          cidrIpv4,
          cidrIpv6,
          referencedSecurityGroupId: r.propertyDependencies?.referencedSecurityGroupId?.length ? "group" : referencedSecurityGroupId,
        },
      };
    }
    if (keep[r.type]) return { type: r.type, name: r.name, props: Object.fromEntries(keep[r.type]!.map((k) => [k, r.props[k]])) };
    return { type: r.type, name: r.name, props: {} };
  });
}

/** `urn:pulumi:prod::vchat::…` → `prod`. */
export function stackOf(urn: string): string {
  return urn.split("::")[0]?.split(":").pop() ?? "";
}

export const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = rules.flatMap((rule) => {
  const out: (ResourceValidationPolicy | StackValidationPolicy)[] = [];
  if (rule.check) {
    const check = rule.check;
    out.push({
      name: rule.name,
      description: rule.description,
      enforcementLevel: "mandatory",
      // Reading a property that is still unknown (preview) throws the SDK's UnknownValueError,
      // which it reports as "cannot check yet" rather than as a violation.
      validateResource: (args, report) => {
        for (const message of check({ type: args.type, name: args.name, props: args.props, protect: args.opts?.protect, stack: stackOf(args.urn) }))
          report(message);
      },
    });
  }
  if (rule.checkStack) {
    const checkStack = rule.checkStack;
    out.push({
      name: `${rule.name}-stack`,
      description: `${rule.description} (across resources)`,
      enforcementLevel: "mandatory",
      validateStack: (args, report) => {
        const byName = new Map(args.resources.map((r) => [r.name, r.urn]));
        for (const v of checkStack(stackRecords(args.resources))) report(`${v.resource}: ${v.message}`, byName.get(v.resource));
      },
    });
  }
  return out;
});
