import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { EnvConfig } from "./config.ts";

export interface KinesisArgs {
  cfg: EnvConfig;
}

/**
 * The architecture's managed alternative: a Kinesis Video Streams signaling channel (with its
 * managed TURN). Off by default. The classic AWS provider has no resource for signaling
 * channels, so a one-resource CloudFormation stack declares it.
 */
export class KinesisSignaling extends pulumi.ComponentResource {
  readonly channelArn: pulumi.Output<string>;

  constructor(name: string, args: KinesisArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:KinesisSignaling", name, {}, opts);
    const { cfg } = args;
    const stack = new aws.cloudformation.Stack(
      `${name}-channel`,
      {
        name: `vchat-${cfg.env}-kvs-signaling`,
        templateBody: JSON.stringify({
          Resources: {
            Channel: { Type: "AWS::KinesisVideo::SignalingChannel", Properties: { Name: `vchat-${cfg.env}`, Type: "SINGLE_MASTER", MessageTtlSeconds: 60 } },
          },
          Outputs: { ChannelArn: { Value: { "Fn::GetAtt": ["Channel", "Arn"] } } },
        }),
        tags: { "vchat:env": cfg.env },
      },
      { parent: this },
    );
    this.channelArn = stack.outputs.apply((o) => o?.["ChannelArn"] ?? "");
    this.registerOutputs({ channelArn: this.channelArn });
  }
}
