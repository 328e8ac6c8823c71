import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { EnvConfig } from "./config.ts";
import { coturnConfig } from "../turn/coturn-config.ts";
import type { Network } from "./network.ts";
import { tlsPolicy } from "./service.ts";
import { cloudCoturnOptions, turnPorts, turnUserData } from "./turn-userdata.ts";

export interface TurnArgs {
  cfg: EnvConfig;
  network: Network;
  turnSecretArn: pulumi.Input<string>;
  /** The secret's name: the boot script reads it by name, so the script is known at preview. */
  turnSecretName: string;
  /** SNS topic for the traffic alarm. */
  alarmTopicArn: pulumi.Input<string>;
}

/** Amazon Linux 2023, resolved by EC2 at launch so the template never pins a stale AMI. */
export const turnImageId = "resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
export const drainHookName = "vchat-turn-drain";

/**
 * coturn on an EC2 autoscaling group. Each instance has its own public IP and announces it as
 * `external-ip` (read from IMDSv2 at boot): relayed media goes straight to that address on the
 * relay range, which no load balancer can carry. The NLB only fronts the listening ports:
 * 3478 TCP+UDP, and TLS on 5349 and 443 terminated with the ACM certificate.
 */
export class Turn extends pulumi.ComponentResource {
  readonly urls: pulumi.Output<string[]>;
  readonly nlbDnsName: pulumi.Output<string>;
  readonly asgName: string;

  constructor(name: string, args: TurnArgs, opts?: pulumi.ComponentResourceOptions) {
    // The generator's inputs are the component's: the policy pack checks them at preview, where
    // the launch template's user data may still be unknown.
    const coturn = cloudCoturnOptions(args.cfg);
    super("vchat:stacks:Turn", name, { coturn, coturnImage: args.cfg.turn.coturnImage }, opts);
    const { cfg, network } = args;
    const parent = { parent: this };
    const tags = { "vchat:env": cfg.env };
    const asgName = `vchat-${cfg.env}-turn`;
    const { listen, tls, altTls } = turnPorts;

    const logGroupName = `/vchat/${cfg.env}/turn`;
    const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: logGroupName, retentionInDays: cfg.retainData ? 30 : 7, tags }, parent);

    // Clients reach 3478 directly too: the NLB keeps their source address (instance targets).
    const sg = new aws.ec2.SecurityGroup(`${name}-sg`, {
      vpcId: network.vpcId,
      description: "vchat TURN: the TURN ports and the relay range, nothing else",
      ingress: [
        { protocol: "udp", fromPort: listen, toPort: listen, cidrBlocks: ["0.0.0.0/0"], description: "TURN/STUN over UDP" },
        { protocol: "tcp", fromPort: listen, toPort: listen, cidrBlocks: ["0.0.0.0/0"], description: "TURN over TCP, and TLS unwrapped by the NLB" },
        { protocol: "udp", fromPort: cfg.turn.minPort, toPort: cfg.turn.maxPort, cidrBlocks: ["0.0.0.0/0"], description: "relay range" },
      ],
      egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "relayed media to peers, AWS APIs" }],
      tags: { ...tags, "vchat:role": "turn" },
    }, parent);

    // Least privilege: read its one secret, write its one log group, complete its own lifecycle hook.
    const role = new aws.iam.Role(`${name}-role`, { assumeRolePolicy: JSON.stringify(aws.iam.assumeRolePolicyForPrincipal({ Service: "ec2.amazonaws.com" })), tags }, parent);
    new aws.iam.RolePolicy(`${name}-policy`, {
      role: role.id,
      policy: pulumi.all([args.turnSecretArn, logs.arn]).apply(([secretArn, logArn]) => JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [secretArn] },
          { Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: [`${logArn}:*`] },
          { Effect: "Allow", Action: ["autoscaling:CompleteLifecycleAction"], Resource: [`arn:aws:autoscaling:${cfg.region}:*:autoScalingGroup:*:autoScalingGroupName/${asgName}`] },
        ],
      })),
    }, parent);
    if (cfg.turn.ssmAccess) {
      new aws.iam.RolePolicyAttachment(`${name}-ssm`, { role: role.name, policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }, parent);
    }
    // With Docker Hub credentials, instances pull coturn through an ECR pull-through cache in
    // the region: no anonymous Docker Hub rate limits or outages in the boot path.
    const cachePrefix = `vchat-${cfg.env}-dockerhub`;
    if (cfg.turn.dockerHubCredentialArn) {
      new aws.ecr.PullThroughCacheRule(`${name}-dockerhub-cache`, {
        ecrRepositoryPrefix: cachePrefix,
        upstreamRegistryUrl: "registry-1.docker.io",
        credentialArn: cfg.turn.dockerHubCredentialArn,
      }, parent);
      new aws.iam.RolePolicy(`${name}-pull`, {
        role: role.id,
        policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: ["*"] },
            { Effect: "Allow", Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchImportUpstreamImage", "ecr:CreateRepository"], Resource: [`arn:aws:ecr:${cfg.region}:*:repository/${cachePrefix}/*`] },
          ],
        }),
      }, parent);
    }
    const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name }, parent);

    // Only known values: the script (and the coturn config in it) can be checked at preview.
    const userData = Buffer.from(turnUserData({
      config: coturnConfig(coturn),
      region: cfg.region,
      secretId: args.turnSecretName,
      image: cfg.turn.coturnImage,
      ecrCachePrefix: cfg.turn.dockerHubCredentialArn ? cachePrefix : undefined,
      asgName,
      hookName: drainHookName,
      drainTimeoutSeconds: cfg.turn.drainTimeoutSeconds,
      logGroup: logGroupName,
    })).toString("base64");
    const template = new aws.ec2.LaunchTemplate(`${name}-lt`, {
      namePrefix: `vchat-${cfg.env}-turn-`,
      imageId: turnImageId,
      instanceType: cfg.turn.instanceType,
      iamInstanceProfile: { arn: profile.arn },
      networkInterfaces: [{ associatePublicIpAddress: "true", securityGroups: [sg.id], deleteOnTermination: "true" }],
      metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" },
      blockDeviceMappings: [{ deviceName: "/dev/xvda", ebs: { encrypted: "true", volumeSize: 16, volumeType: "gp3", deleteOnTermination: "true" } }],
      // One-minute NetworkOut for the scaling policy.
      monitoring: { enabled: true },
      userData,
      tagSpecifications: [{ resourceType: "instance", tags: { ...tags, Name: asgName } }],
      tags,
    }, parent);

    const nlb = new aws.lb.LoadBalancer(`${name}-nlb`, {
      loadBalancerType: "network",
      internal: false,
      subnets: network.publicSubnetIds,
      // Off: each AZ's NLB node forwards to its own AZ's instances; on, TURN over TCP/TLS would
      // cross AZs (billed per GB) for a share of sessions. An AZ without a healthy instance
      // (dev runs one) is taken out of the NLB's DNS, so clients go where an instance is.
      enableCrossZoneLoadBalancing: false,
      enableDeletionProtection: cfg.retainData,
      tags,
    }, parent);
    const healthCheck = { protocol: "TCP", port: String(listen), interval: 10, healthyThreshold: 2, unhealthyThreshold: 2 };
    const tgPlain = new aws.lb.TargetGroup(`${name}-tg-3478`, {
      vpcId: network.vpcId, port: listen, protocol: "TCP_UDP", targetType: "instance", healthCheck,
      // Open TURN-over-TCP sessions may finish while the instance drains.
      deregistrationDelay: 300, connectionTermination: false, preserveClientIp: "true", tags,
    }, parent);
    const tgTls = new aws.lb.TargetGroup(`${name}-tg-tls`, {
      vpcId: network.vpcId, port: listen, protocol: "TCP", targetType: "instance", healthCheck,
      deregistrationDelay: 300, preserveClientIp: "true", tags,
    }, parent);
    new aws.lb.Listener(`${name}-listen-${listen}`, {
      loadBalancerArn: nlb.arn, port: listen, protocol: "TCP_UDP",
      defaultActions: [{ type: "forward", targetGroupArn: tgPlain.arn }],
    }, parent);
    // TLS TURN only under a name the certificate covers: the NLB's own name matches none.
    const tlsPorts = cfg.turnDomain ? [tls, altTls] : [];
    for (const port of tlsPorts) {
      new aws.lb.Listener(`${name}-listen-${port}`, {
        loadBalancerArn: nlb.arn, port, protocol: "TLS", sslPolicy: tlsPolicy, certificateArn: cfg.certificateArn,
        defaultActions: [{ type: "forward", targetGroupArn: tgTls.arn }],
      }, parent);
    }

    const asg = new aws.autoscaling.Group(`${name}-asg`, {
      name: asgName,
      minSize: cfg.turn.minInstances,
      maxSize: cfg.turn.maxInstances,
      vpcZoneIdentifiers: network.publicSubnetIds,
      launchTemplate: { id: template.id, version: template.latestVersion.apply(String) },
      targetGroupArns: [tgPlain.arn, tgTls.arn],
      healthCheckType: "ELB",
      healthCheckGracePeriod: 180,
      initialLifecycleHooks: [{
        name: drainHookName,
        lifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING",
        heartbeatTimeout: cfg.turn.drainTimeoutSeconds,
        defaultResult: "CONTINUE",
      }],
      // Launch before terminate: a new launch template never leaves the group without a healthy
      // instance (dev runs one), and old ones drain through the lifecycle hook.
      instanceRefresh: { strategy: "Rolling", preferences: { minHealthyPercentage: 100, maxHealthyPercentage: 200, instanceWarmup: "180" } },
      tags: [{ key: "vchat:env", value: cfg.env, propagateAtLaunch: true }],
    }, { parent: this, ignoreChanges: ["desiredCapacity"] });
    new aws.autoscaling.Policy(`${name}-scale-network`, {
      autoscalingGroupName: asg.name,
      policyType: "TargetTrackingScaling",
      estimatedInstanceWarmup: 180,
      targetTrackingConfiguration: {
        predefinedMetricSpecification: { predefinedMetricType: "ASGAverageNetworkOut" },
        targetValue: cfg.turn.scaleOnNetworkOutBytes,
      },
    }, parent);

    // Relayed media is the bill: alarm when the fleet sends more than the configured hourly volume.
    new aws.cloudwatch.MetricAlarm(`${name}-network-out`, {
      alarmDescription: `vchat ${cfg.env} TURN sent more than ${cfg.turn.alarmNetworkOutGbPerHour} GB in an hour`,
      namespace: "AWS/EC2",
      metricName: "NetworkOut",
      dimensions: { AutoScalingGroupName: asgName },
      statistic: "Sum",
      period: 3600,
      evaluationPeriods: 1,
      threshold: cfg.turn.alarmNetworkOutGbPerHour * 1e9,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: [args.alarmTopicArn],
      tags,
    }, { parent: this, dependsOn: [asg] });

    const host: pulumi.Output<string> = cfg.turnDomain ? pulumi.output(cfg.turnDomain) : nlb.dnsName;
    this.urls = host.apply((h) => [
      `turn:${h}:${listen}?transport=udp`,
      `turn:${h}:${listen}?transport=tcp`,
      ...tlsPorts.map((port) => `turns:${h}:${port}?transport=tcp`),
    ]);
    this.nlbDnsName = nlb.dnsName;
    this.asgName = asgName;
    this.registerOutputs({ urls: this.urls, nlbDnsName: this.nlbDnsName });
  }
}
