/**
 * The vchat environment: one component per service, wired together. The same function runs
 * under `vchat up` (Automation API, inline program) and on Pulumi's mocks for
 * `vchat preview --offline` and the tests.
 */
import * as pulumi from "@pulumi/pulumi";
import { configKeys, resolveEnvConfig, type ConfigOverrides, type EnvConfig, type EnvName } from "./config.ts";
import { Data } from "./data.ts";
import { KinesisSignaling } from "./kinesis.ts";
import { Network } from "./network.ts";
import { Secrets } from "./secrets.ts";
import { Service } from "./service.ts";
import { Turn } from "./turn.ts";
import { Web } from "./web.ts";

/** Stack outputs; `atlasConnectionString` is a Pulumi secret. */
export interface EnvironmentOutputs {
  webUrl: pulumi.Output<string>;
  apiUrl: pulumi.Output<string>;
  turnUrls: pulumi.Output<string[]>;
  redisEndpoint: pulumi.Output<string>;
  atlasConnectionString: pulumi.Output<string>;
  repositoryUrl: pulumi.Output<string>;
  webBucket: pulumi.Output<string>;
  kinesisChannelArn?: pulumi.Output<string>;
}

export const outputNames = [
  "webUrl",
  "apiUrl",
  "turnUrls",
  "redisEndpoint",
  "atlasConnectionString",
  "repositoryUrl",
  "webBucket",
  "kinesisChannelArn",
] as const;

export class Environment extends pulumi.ComponentResource {
  readonly outputs: EnvironmentOutputs;

  constructor(name: string, cfg: EnvConfig, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:Environment", name, {}, opts);
    const child = { parent: this };
    const network = new Network(`${name}-net`, { cfg }, child);
    const secrets = new Secrets(`${name}-secrets`, { cfg }, child);
    const data = new Data(`${name}-data`, { cfg, network }, child);
    const web = new Web(`${name}-web`, { cfg }, child);
    const turn = new Turn(`${name}-turn`, { cfg, network, turnSecretArn: secrets.turnSecretArn }, child);
    const service = new Service(
      `${name}-svc`,
      {
        cfg,
        network,
        secretArns: { jwt: secrets.jwtSecretArn, turn: secrets.turnSecretArn, mongoUri: data.mongoUriSecretArn, redisUrl: data.redisUrlSecretArn },
        redisSecurityGroupId: data.redisSecurityGroupId,
        turnUrls: turn.urls,
        webUrl: web.url,
      },
      child,
    );
    const kinesis = cfg.kinesisSignaling ? new KinesisSignaling(`${name}-kvs`, { cfg }, child) : undefined;

    this.outputs = {
      webUrl: web.url,
      apiUrl: service.apiUrl,
      turnUrls: turn.urls,
      redisEndpoint: data.redisEndpoint,
      atlasConnectionString: pulumi.secret(data.atlasConnectionString),
      repositoryUrl: service.repositoryUrl,
      webBucket: web.bucketName,
      ...(kinesis ? { kinesisChannelArn: kinesis.channelArn } : {}),
    };
    this.registerOutputs({ ...this.outputs });
  }
}

/** Builds the environment from a resolved configuration and returns the stack outputs. */
export function vchatProgram(cfg: EnvConfig, opts?: pulumi.ComponentResourceOptions): EnvironmentOutputs {
  return new Environment(`vchat-${cfg.env}`, cfg, opts).outputs;
}

/** Reads the `vchat:*` keys of the current stack's Pulumi config. */
export function overridesFromPulumiConfig(config = new pulumi.Config("vchat")): ConfigOverrides {
  const o: ConfigOverrides = {};
  for (const key of configKeys) {
    const v = config.get(key);
    if (v !== undefined) o[key] = v;
  }
  return o;
}

/** The inline program `vchat up` hands to the Automation API. */
export function inlineProgram(env: EnvName): () => Promise<Record<string, unknown>> {
  return async () => {
    const cfg = resolveEnvConfig(env, overridesFromPulumiConfig());
    return { ...vchatProgram(cfg) };
  };
}
