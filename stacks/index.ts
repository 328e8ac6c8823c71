/**
 * Entry point for running the stacks with the plain Pulumi CLI (`pulumi -C stacks up --stack dev`).
 * `vchat up` uses the same program inline through the Automation API instead.
 */
import * as pulumi from "@pulumi/pulumi";
import { environments, resolveEnvConfig, type EnvName } from "./config.ts";
import { overridesFromPulumiConfig, vchatProgram } from "./program.ts";

const stack = pulumi.getStack();
if (!(environments as readonly string[]).includes(stack)) {
  throw new Error(`stack must be one of ${environments.join(", ")}, got "${stack}"`);
}
const out = vchatProgram(resolveEnvConfig(stack as EnvName, overridesFromPulumiConfig()));

export const webUrl = out.webUrl;
export const apiUrl = out.apiUrl;
export const turnUrls = out.turnUrls;
export const redisEndpoint = out.redisEndpoint;
export const atlasConnectionString = out.atlasConnectionString;
export const repositoryUrl = out.repositoryUrl;
export const webBucket = out.webBucket;
export const adminSecretArn = out.adminSecretArn;
export const dnsRecords = out.dnsRecords;
export const kinesisChannelArn = out.kinesisChannelArn;
