import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

export interface FargateTaskArgs {
  family: string;
  /** CPU units (1024 = one vCPU) and memory (MiB), as Fargate sizes them. */
  cpu: number;
  memory: number;
  executionRoleArn: pulumi.Input<string>;
  taskRoleArn: pulumi.Input<string>;
  containerDefinitions: pulumi.Input<string>;
  tags: Record<string, string>;
}

/**
 * A task definition of the one kind vchat runs, for the service's nodes and the bots fleet's
 * workers alike: Fargate, awsvpc, Linux on x86 — the platform `stacks/image.ts` builds for.
 */
export function fargateTaskDefinition(name: string, args: FargateTaskArgs, opts: pulumi.CustomResourceOptions): aws.ecs.TaskDefinition {
  return new aws.ecs.TaskDefinition(
    name,
    {
      family: args.family,
      cpu: String(args.cpu),
      memory: String(args.memory),
      networkMode: "awsvpc",
      requiresCompatibilities: ["FARGATE"],
      runtimePlatform: { operatingSystemFamily: "LINUX", cpuArchitecture: "X86_64" },
      executionRoleArn: args.executionRoleArn,
      taskRoleArn: args.taskRoleArn,
      containerDefinitions: args.containerDefinitions,
      tags: args.tags,
    },
    opts,
  );
}
