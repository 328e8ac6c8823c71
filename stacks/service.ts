import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { keepData, type EnvConfig } from "./config.ts";
import { redisPort } from "./data.ts";
import { fargateTaskDefinition } from "./fargate.ts";
import { ServiceImage } from "./image.ts";
import type { Network } from "./network.ts";
import type { ImageSource } from "./release.ts";

export interface ServiceArgs {
  cfg: EnvConfig;
  network: Network;
  secretArns: {
    jwt: pulumi.Input<string>;
    /** The admin API's signing secret (`vchat admin` with VCHAT_ADMIN_SECRET). */
    admin: pulumi.Input<string>;
    turn: pulumi.Input<string>;
    mongoUri: pulumi.Input<string>;
    redisUrl: pulumi.Input<string>;
  };
  redisSecurityGroupId: pulumi.Input<string>;
  turnUrls: pulumi.Input<string[]>;
  webUrl: pulumi.Input<string>;
  /** The value of `originHeader` that CloudFront adds; the ALB forwards nothing else. */
  originSecret: pulumi.Input<string>;
  /** The image to run; without one, the service runs no task (an offline preview of a checkout without a Dockerfile). */
  image?: ImageSource;
}

/** The header CloudFront adds to every request it sends to the ALB (a custom origin header). */
export const originHeader = "x-vchat-origin-verify";

/** AWS's managed prefix list of CloudFront's origin-facing addresses. */
export const cloudFrontPrefixList = "com.amazonaws.global.cloudfront.origin-facing";

/** Proxies in front of a node: CloudFront, then the ALB, each appending to X-Forwarded-For. */
export const proxyHops = 2;

/** Paths the ALB answers itself with 404: monitoring stays inside the VPC. */
export const internalPaths = ["/metrics*", "/readyz*"] as const;

/** The TLS policy of every HTTPS/TLS listener: TLS 1.3 with 1.2 as the floor. */
export const tlsPolicy = "ELBSecurityPolicy-TLS13-1-2-2021-06";

/**
 * `vchat serve` nodes as an ECS Fargate service behind an internet-facing ALB that only
 * CloudFront may use: its security group admits CloudFront's origin-facing addresses on 443 only,
 * and its listener forwards only requests carrying this stack's secret origin header (any other
 * distribution comes from the same addresses); everything else gets 403.
 * Fargate, not EC2: the nodes keep no host state, so there is no fleet to patch or bin-pack,
 * and each task gets its own ENI and security group. Clients connect with Socket.IO's
 * WebSocket-only transport, so the target group needs no stickiness (docs/stacks.md).
 */
export class Service extends pulumi.ComponentResource {
  readonly albDnsName: pulumi.Output<string>;
  readonly repositoryUrl: pulumi.Output<string>;

  constructor(name: string, args: ServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:Service", name, {}, opts);
    const { cfg, network } = args;
    const parent = { parent: this };
    const tags = { "vchat:env": cfg.env };
    const port = cfg.service.port;

    const repo = new aws.ecr.Repository(
      `${name}-repo`,
      {
        name: `vchat-${cfg.env}`,
        imageScanningConfiguration: { scanOnPush: true },
        // A tag names one image forever: `up` rolls out exactly what the tag says, and a rollback
        // to an older tag gets the older image.
        imageTagMutability: "IMMUTABLE",
        encryptionConfigurations: [{ encryptionType: "AES256" }],
        forceDelete: !cfg.retainData,
        tags,
      },
      { parent: this, ...keepData(cfg) },
    );
    const logs = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: `/vchat/${cfg.env}/service`, retentionInDays: cfg.retainData ? 30 : 7, tags }, parent);
    const cluster = new aws.ecs.Cluster(
      `${name}-cluster`,
      { settings: [{ name: "containerInsights", value: cfg.service.containerInsights ? "enabled" : "disabled" }], tags },
      parent,
    );

    // --- security groups ---
    const cloudFront = aws.ec2.getManagedPrefixListOutput({ name: cloudFrontPrefixList }, { parent: this });
    const albSg = new aws.ec2.SecurityGroup(
      `${name}-alb-sg`,
      {
        vpcId: network.vpcId,
        description: "vchat ALB: HTTPS from CloudFront only",
        // CloudFront reaches its origin over HTTPS only (stacks/web.ts): no port 80.
        ingress: [
          { protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: [cloudFront.id], description: "HTTPS from CloudFront's origin-facing addresses" },
        ],
        egress: [{ protocol: "tcp", fromPort: port, toPort: port, cidrBlocks: [network.vpcCidr], description: "to the service tasks" }],
        tags: { ...tags, "vchat:role": "alb" },
      },
      parent,
    );
    const taskSg = new aws.ec2.SecurityGroup(
      `${name}-task-sg`,
      {
        vpcId: network.vpcId,
        description: "vchat service tasks: only the ALB may connect",
        ingress: [{ protocol: "tcp", fromPort: port, toPort: port, securityGroups: [albSg.id], description: "from the ALB" }],
        // Out to Atlas (via NAT), ECR, Secrets Manager, CloudWatch and Redis.
        egress: [{ protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"], description: "outbound" }],
        tags: { ...tags, "vchat:role": "tasks" },
      },
      parent,
    );
    new aws.vpc.SecurityGroupIngressRule(
      `${name}-redis-from-tasks`,
      {
        securityGroupId: args.redisSecurityGroupId,
        referencedSecurityGroupId: taskSg.id,
        ipProtocol: "tcp",
        fromPort: redisPort,
        toPort: redisPort,
        description: "Redis from the vchat service tasks",
      },
      parent,
    );

    // --- load balancer ---
    const alb = new aws.lb.LoadBalancer(
      `${name}-alb`,
      {
        loadBalancerType: "application",
        internal: false,
        subnets: network.publicSubnetIds,
        securityGroups: [albSg.id],
        idleTimeout: cfg.service.idleTimeoutSeconds,
        dropInvalidHeaderFields: true,
        enableDeletionProtection: cfg.retainData,
        tags,
      },
      parent,
    );
    const tg = new aws.lb.TargetGroup(
      `${name}-tg`,
      {
        vpcId: network.vpcId,
        port,
        protocol: "HTTP",
        targetType: "ip",
        healthCheck: { path: "/healthz", matcher: "200", interval: 15, timeout: 5, healthyThreshold: 2, unhealthyThreshold: 3 },
        // WebSocket-only transport: one TCP connection per client, nothing to stick.
        stickiness: { type: "lb_cookie", enabled: false },
        // Long enough for Socket.IO clients to be told and reconnect elsewhere during deploys.
        deregistrationDelay: 30,
        tags,
      },
      parent,
    );
    const https = new aws.lb.Listener(
      `${name}-https`,
      {
        loadBalancerArn: alb.arn,
        port: 443,
        protocol: "HTTPS",
        sslPolicy: tlsPolicy,
        certificateArn: cfg.certificateArn,
        defaultActions: [
          {
            type: "fixed-response",
            fixedResponse: {
              contentType: "application/json",
              statusCode: "403",
              messageBody: JSON.stringify({ error: { code: "FORBIDDEN", message: "use the web URL: this origin answers CloudFront only" } }),
            },
          },
        ],
      },
      parent,
    );
    new aws.lb.ListenerRule(
      `${name}-from-cloudfront`,
      {
        listenerArn: https.arn,
        priority: 20,
        conditions: [{ httpHeader: { httpHeaderName: originHeader, values: [args.originSecret] } }],
        actions: [{ type: "forward", targetGroupArn: tg.arn }],
      },
      parent,
    );
    // Prometheus data and dependency error texts stay inside the VPC: a scraper there reads the
    // tasks directly on their port; from the internet these paths answer 404. The service
    // routes case-sensitively, so /METRICS cannot slip past this case-sensitive match.
    new aws.lb.ListenerRule(
      `${name}-internal-paths`,
      {
        listenerArn: https.arn,
        priority: 10,
        conditions: [{ pathPattern: { values: [...internalPaths] } }],
        actions: [
          {
            type: "fixed-response",
            fixedResponse: {
              contentType: "application/json",
              statusCode: "404",
              messageBody: JSON.stringify({ error: { code: "NOT_FOUND", message: "not found" } }),
            },
          },
        ],
      },
      parent,
    );

    // --- roles ---
    const assume = aws.iam.assumeRolePolicyForPrincipal({ Service: "ecs-tasks.amazonaws.com" });
    const execRole = new aws.iam.Role(`${name}-exec-role`, { assumeRolePolicy: JSON.stringify(assume), tags }, parent);
    new aws.iam.RolePolicyAttachment(
      `${name}-exec-managed`,
      { role: execRole.name, policyArn: "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy" },
      parent,
    );
    const secretArns = [args.secretArns.jwt, args.secretArns.admin, args.secretArns.turn, args.secretArns.mongoUri, args.secretArns.redisUrl];
    new aws.iam.RolePolicy(
      `${name}-exec-secrets`,
      {
        role: execRole.id,
        policy: pulumi.all(secretArns).apply((arns) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: arns }],
          }),
        ),
      },
      parent,
    );
    // The node itself calls no AWS API: its task role has no policy at all.
    const taskRole = new aws.iam.Role(`${name}-task-role`, { assumeRolePolicy: JSON.stringify(assume), tags }, parent);

    const image =
      args.image && "given" in args.image
        ? pulumi.output(args.image.given)
        : args.image
          ? new ServiceImage(`${name}-image`, { repository: repo, ...args.image.build }, parent).ref
          : undefined;
    if (image) {
      const containerDefinitions = pulumi
        .all([
          image,
          logs.name,
          args.secretArns.jwt,
          args.secretArns.admin,
          args.secretArns.turn,
          args.secretArns.mongoUri,
          args.secretArns.redisUrl,
          args.turnUrls,
          args.webUrl,
        ])
        .apply(([imageRef, logGroup, jwt, admin, turn, mongo, redisUrl, turnUrls, webUrl]) =>
          JSON.stringify([
            {
              name: "vchat",
              image: imageRef,
              essential: true,
              command: ["node", "cli/vchat.ts", "serve"],
              portMappings: [{ containerPort: port, protocol: "tcp" }],
              // The settings `vchat serve` reads (cli/commands/serve.ts); secrets come below.
              environment: [
                { name: "VCHAT_HOST", value: "0.0.0.0" },
                { name: "VCHAT_PORT", value: String(port) },
                { name: "VCHAT_TRUST_PROXY", value: String(proxyHops) },
                // Same-origin calls need no CORS; the web URL is the only other origin a browser may call from.
                { name: "VCHAT_CORS_ORIGINS", value: webUrl },
                { name: "VCHAT_TURN_URLS", value: (turnUrls as string[]).join(",") },
                { name: "VCHAT_LOG_LEVEL", value: "info" },
              ],
              secrets: [
                { name: "VCHAT_JWT_SECRET", valueFrom: jwt },
                { name: "VCHAT_ADMIN_SECRET", valueFrom: admin },
                { name: "VCHAT_TURN_SECRET", valueFrom: turn },
                { name: "VCHAT_MONGODB_URI", valueFrom: mongo },
                { name: "VCHAT_REDIS_URL", valueFrom: redisUrl },
              ],
              logConfiguration: {
                logDriver: "awslogs",
                options: { "awslogs-group": logGroup, "awslogs-region": cfg.region, "awslogs-stream-prefix": "vchat" },
              },
              // SIGTERM first: the node stops taking sockets and hands them over before ECS kills it.
              stopTimeout: 30,
            },
          ]),
        );
      const taskDef = fargateTaskDefinition(
        `${name}-task`,
        {
          family: `vchat-${cfg.env}`,
          cpu: cfg.service.cpu,
          memory: cfg.service.memory,
          executionRoleArn: execRole.arn,
          taskRoleArn: taskRole.arn,
          containerDefinitions,
          tags,
        },
        parent,
      );
      const service = new aws.ecs.Service(
        `${name}-service`,
        {
          cluster: cluster.arn,
          taskDefinition: taskDef.arn,
          launchType: "FARGATE",
          desiredCount: cfg.service.minTasks,
          networkConfiguration: { subnets: network.privateSubnetIds, securityGroups: [taskSg.id], assignPublicIp: false },
          loadBalancers: [{ targetGroupArn: tg.arn, containerName: "vchat", containerPort: port }],
          healthCheckGracePeriodSeconds: 30,
          deploymentCircuitBreaker: { enable: true, rollback: true },
          // `up` returns once the new tasks are healthy, and fails when they crash-loop.
          waitForSteadyState: true,
          deploymentMinimumHealthyPercent: 100,
          deploymentMaximumPercent: 200,
          propagateTags: "SERVICE",
          tags,
        },
        { parent: this, dependsOn: [https], ignoreChanges: ["desiredCount"] },
      );
      const scaling = new aws.appautoscaling.Target(
        `${name}-scaling`,
        {
          serviceNamespace: "ecs",
          scalableDimension: "ecs:service:DesiredCount",
          resourceId: pulumi.interpolate`service/${cluster.name}/${service.name}`,
          minCapacity: cfg.service.minTasks,
          maxCapacity: cfg.service.maxTasks,
        },
        parent,
      );
      new aws.appautoscaling.Policy(
        `${name}-scale-cpu`,
        {
          policyType: "TargetTrackingScaling",
          serviceNamespace: scaling.serviceNamespace,
          scalableDimension: scaling.scalableDimension,
          resourceId: scaling.resourceId,
          targetTrackingScalingPolicyConfiguration: {
            predefinedMetricSpecification: { predefinedMetricType: "ECSServiceAverageCPUUtilization" },
            targetValue: 60,
            scaleInCooldown: 300,
            scaleOutCooldown: 60,
          },
        },
        parent,
      );
    }
    this.albDnsName = alb.dnsName;
    this.repositoryUrl = repo.repositoryUrl;
    this.registerOutputs({ albDnsName: this.albDnsName, repositoryUrl: this.repositoryUrl });
  }
}
