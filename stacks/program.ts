/**
 * The vchat environment: one component per service, wired together. The same function runs
 * under `vchat up` (Automation API, inline program) and on Pulumi's mocks for
 * `vchat preview --offline` and the tests.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { certificateCovers, ConfigError, configKeys, resolveEnvConfig, type ConfigOverrides, type EnvConfig, type EnvName } from "./config.ts";
import { Data } from "./data.ts";
import { systemProbe } from "./engine.ts";
import { KinesisSignaling } from "./kinesis.ts";
import { Network } from "./network.ts";
import { checkoutRoot, readRelease, releaseToolProblems, type Release } from "./release.ts";
import { Secrets } from "./secrets.ts";
import { Service } from "./service.ts";
import { Turn } from "./turn.ts";
import { Web } from "./web.ts";

/** Stack outputs; `atlasConnectionString` is a Pulumi secret. */
export interface EnvironmentOutputs {
  webUrl: pulumi.Output<string>;
  /** Where API clients (`vchat doctor`, `vchat bots`) connect: the same one origin as `webUrl`, since the ALB answers CloudFront only. */
  apiUrl: pulumi.Output<string>;
  turnUrls: pulumi.Output<string[]>;
  redisEndpoint: pulumi.Output<string>;
  atlasConnectionString: pulumi.Output<string>;
  repositoryUrl: pulumi.Output<string>;
  webBucket: pulumi.Output<string>;
  /** The Secrets Manager secret holding VCHAT_ADMIN_SECRET for `vchat admin`. */
  adminSecretArn: pulumi.Output<string>;
  /** The CNAMEs to create at the DNS provider, `name CNAME target`: the stack owns no zone. */
  dnsRecords: pulumi.Output<string[]>;
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
  "adminSecretArn",
  "dnsRecords",
  "kinesisChannelArn",
] as const;

export class Environment extends pulumi.ComponentResource {
  readonly outputs: EnvironmentOutputs;
  /** Names clients will use that the configured certificates do not cover; `vchatProgram` fails on any. */
  readonly certificateProblems: pulumi.Output<string[]>;

  constructor(name: string, cfg: EnvConfig, release: Release, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:Environment", name, {}, opts);
    // The region comes from the configuration, not from `aws:region` in the stack file: nothing
    // has to be written into the stack before a preview.
    const provider = new aws.Provider(`${name}-aws`, { region: cfg.region as aws.Region, defaultTags: { tags: { "vchat:env": cfg.env } } }, { parent: this });
    const child = { parent: this, providers: { aws: provider } };
    this.certificateProblems = certificateProblems(name, cfg, this, provider);
    const alerts = new Alerts(`${name}-alerts`, { cfg }, child);
    const network = new Network(`${name}-net`, { cfg }, child);
    const secrets = new Secrets(`${name}-secrets`, { cfg }, child);
    const data = new Data(`${name}-data`, { cfg, network }, child);
    const web = new Web(`${name}-web`, { cfg, originSecret: secrets.originSecret, site: release.site }, child);
    const turn = new Turn(
      `${name}-turn`,
      { cfg, network, turnSecretArn: secrets.turnSecretArn, turnSecretName: secrets.turnSecretName, alarmTopicArn: alerts.topicArn },
      child,
    );
    const service = new Service(
      `${name}-svc`,
      {
        cfg,
        network,
        secretArns: {
          jwt: secrets.jwtSecretArn,
          admin: secrets.adminSecretArn,
          turn: secrets.turnSecretArn,
          mongoUri: data.mongoUriSecretArn,
          redisUrl: data.redisUrlSecretArn,
        },
        redisSecurityGroupId: data.redisSecurityGroupId,
        turnUrls: turn.urls,
        webUrl: web.url,
        originSecret: secrets.originSecret,
        image: release.image,
      },
      child,
    );
    const kinesis = cfg.kinesisSignaling ? new KinesisSignaling(`${name}-kvs`, { cfg }, child) : undefined;

    this.outputs = {
      webUrl: web.url,
      apiUrl: web.url,
      turnUrls: turn.urls,
      redisEndpoint: data.redisEndpoint,
      atlasConnectionString: pulumi.secret(data.atlasConnectionString),
      repositoryUrl: service.repositoryUrl,
      webBucket: web.bucketName,
      adminSecretArn: secrets.adminSecretArn,
      dnsRecords: pulumi.all([service.albDnsName, turn.nlbDnsName, web.distributionDomain]).apply(([alb, nlb, cdn]) => [
        // CloudFront reaches the ALB by this name (its certificate's).
        `${cfg.apiDomain} CNAME ${alb}`,
        ...(cfg.turnDomain ? [`${cfg.turnDomain} CNAME ${nlb}`] : []),
        ...(cfg.webDomain && cfg.webCertificateArn ? [`${cfg.webDomain} CNAME ${cdn}`] : []),
      ]),
      ...(kinesis ? { kinesisChannelArn: kinesis.channelArn } : {}),
    };
    this.registerOutputs({ ...this.outputs });
  }
}

/**
 * Reads the configured certificates (at preview too) and lists the names clients will use that
 * they do not cover: a browser refuses `apiUrl` then, and TLS TURN fails.
 */
function certificateProblems(name: string, cfg: EnvConfig, parent: pulumi.Resource, provider: aws.Provider): pulumi.Output<string[]> {
  const check = (key: string, arn: string, hosts: (string | undefined)[], p: aws.Provider) => {
    const cert = aws.acm.Certificate.get(`${name}-${key}`, arn, undefined, { parent, provider: p });
    return pulumi.all([cert.domainName, cert.subjectAlternativeNames]).apply(([domain, alternatives]) => {
      const names = [domain, ...(alternatives ?? [])].filter((n): n is string => !!n);
      const missing = hosts.filter((h): h is string => !!h && !certificateCovers(names, h));
      return missing.length > 0 ? [`vchat:${key} (${names.join(", ") || "no names"}) does not cover ${missing.join(", ")}`] : [];
    });
  };
  const problems = [check("certificateArn", cfg.certificateArn, [cfg.apiDomain, cfg.turnDomain], provider)];
  if (cfg.webCertificateArn) {
    // CloudFront's certificates live in us-east-1.
    const usEast1 = new aws.Provider(`${name}-aws-us-east-1`, { region: "us-east-1" }, { parent });
    problems.push(check("webCertificateArn", cfg.webCertificateArn, [cfg.webDomain], usEast1));
  }
  return pulumi.all(problems).apply((lists) => lists.flat());
}

/**
 * Where alarms and the budget report: an SNS topic (with an e-mail subscription when
 * `alertEmail` is set) and a monthly cost budget with forecast and actual thresholds.
 * The budget counts the whole account: tag filters need `vchat:env` activated as a cost
 * allocation tag first (Billing console), after which a filter can be added here.
 */
export class Alerts extends pulumi.ComponentResource {
  readonly topicArn: pulumi.Output<string>;

  constructor(name: string, args: { cfg: EnvConfig }, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:Alerts", name, {}, opts);
    const { cfg } = args;
    const parent = { parent: this };
    const topic = new aws.sns.Topic(`${name}-topic`, { name: `vchat-${cfg.env}-alerts` }, parent);
    new aws.sns.TopicPolicy(
      `${name}-topic-policy`,
      {
        arn: topic.arn,
        policy: topic.arn.apply((arn) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              { Effect: "Allow", Principal: { Service: ["cloudwatch.amazonaws.com", "budgets.amazonaws.com"] }, Action: "sns:Publish", Resource: arn },
            ],
          }),
        ),
      },
      parent,
    );
    if (cfg.alertEmail) new aws.sns.TopicSubscription(`${name}-email`, { topic: topic.arn, protocol: "email", endpoint: cfg.alertEmail }, parent);
    const notify = (threshold: number, notificationType: "FORECASTED" | "ACTUAL") => ({
      comparisonOperator: "GREATER_THAN",
      threshold,
      thresholdType: "PERCENTAGE",
      notificationType,
      subscriberSnsTopicArns: [topic.arn],
    });
    new aws.budgets.Budget(
      `${name}-budget`,
      {
        name: `vchat-${cfg.env}-monthly`,
        budgetType: "COST",
        limitAmount: cfg.monthlyBudgetUsd.toFixed(2),
        limitUnit: "USD",
        timeUnit: "MONTHLY",
        notifications: [notify(80, "FORECASTED"), notify(100, "ACTUAL")],
      },
      parent,
    );
    this.topicArn = topic.arn;
    this.registerOutputs({ topicArn: this.topicArn });
  }
}

export interface ProgramOptions {
  /** The checkout with the image's Dockerfile and the built web client. @default this checkout */
  root?: string;
  /** Finds a program on PATH (Docker and the AWS CLI, which `up` runs). */
  which?: (name: string) => string | undefined;
}

/**
 * Builds the environment from a resolved configuration and a checkout and returns the stack
 * outputs. Fails, before any resource, on a release it cannot ship (no web build, no Dockerfile,
 * no Docker or AWS CLI to run).
 */
export function vchatProgram(cfg: EnvConfig, o: ProgramOptions = {}): EnvironmentOutputs {
  const release = readRelease(o.root ?? checkoutRoot, cfg.service.image);
  const problems = [...release.problems, ...releaseToolProblems(release, o.which ?? systemProbe().which)];
  if (problems.length > 0) throw new ConfigError(`cannot ship ${cfg.env}:\n  ${problems.join("\n  ")}`);
  const environment = new Environment(`vchat-${cfg.env}`, cfg, release);
  // Fails the run (a preview too) with the same kind of message as any other config problem.
  environment.certificateProblems.apply((problems) => {
    if (problems.length > 0) throw new ConfigError(`stack config for ${cfg.env} is invalid:\n  ${problems.join("\n  ")}`);
  });
  return environment.outputs;
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
