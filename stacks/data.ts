import * as aws from "@pulumi/aws";
import * as mongodbatlas from "@pulumi/mongodbatlas";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { atlasRegionName, keepData, type EnvConfig } from "./config.ts";
import type { Network } from "./network.ts";
import { storedSecret } from "./secrets.ts";

export interface DataArgs {
  cfg: EnvConfig;
  network: Network;
}

export const redisPort = 6379;

/**
 * ElastiCache Redis 7 (TLS in transit, auth token, encrypted at rest, Multi-AZ with automatic
 * failover) and a MongoDB Atlas cluster reachable only from the VPC's NAT addresses. Both
 * connection URIs go to Secrets Manager for the service.
 */
export class Data extends pulumi.ComponentResource {
  /** Redis allows nothing until the service adds its rule (the service is created later). */
  readonly redisSecurityGroupId: pulumi.Output<string>;
  readonly redisEndpoint: pulumi.Output<string>;
  readonly redisUrlSecretArn: pulumi.Output<string>;
  readonly mongoUriSecretArn: pulumi.Output<string>;
  /** `mongodb+srv://user:password@host/vchat`, a Pulumi secret. */
  readonly atlasConnectionString: pulumi.Output<string>;

  constructor(name: string, args: DataArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:Data", name, {}, opts);
    const { cfg, network } = args;
    const parent = { parent: this };
    const kept = { parent: this, ...keepData(cfg) };
    const tags = { "vchat:env": cfg.env };

    // --- Redis ---
    const sg = new aws.ec2.SecurityGroup(`${name}-redis-sg`, {
      vpcId: network.vpcId,
      description: "vchat Redis: reachable from the service tasks only",
      tags: { ...tags, "vchat:role": "redis" },
    }, parent);
    const subnets = new aws.elasticache.SubnetGroup(`${name}-redis-subnets`, { subnetIds: network.privateSubnetIds, tags }, parent);
    const authToken = new random.RandomPassword(`${name}-redis-token`, { length: 64, special: false }, kept);
    const redis = new aws.elasticache.ReplicationGroup(`${name}-redis`, {
      description: `vchat ${cfg.env} matchmaking, presence and Socket.IO streams`,
      engine: "redis",
      engineVersion: cfg.redis.engineVersion,
      nodeType: cfg.redis.nodeType,
      numCacheClusters: cfg.redis.nodes,
      port: redisPort,
      parameterGroupName: "default.redis7",
      subnetGroupName: subnets.name,
      securityGroupIds: [sg.id],
      transitEncryptionEnabled: true,
      // Not "preferred", which also lets clients in without TLS.
      transitEncryptionMode: "required",
      atRestEncryptionEnabled: true,
      authToken: authToken.result,
      // One node (dev) has nothing to fail over to.
      automaticFailoverEnabled: cfg.redis.nodes > 1,
      multiAzEnabled: cfg.redis.nodes > 1,
      snapshotRetentionLimit: cfg.retainData ? 7 : 0,
      // Automatic snapshots go with the group: a deliberate delete leaves a final one.
      ...(cfg.retainData ? { finalSnapshotIdentifier: `vchat-${cfg.env}-redis-final` } : {}),
      applyImmediately: !cfg.retainData,
      tags,
    }, kept);
    const redisUrl = pulumi.interpolate`rediss://:${authToken.result}@${redis.primaryEndpointAddress}:${redisPort}`;

    // --- MongoDB Atlas ---
    const project = new mongodbatlas.Project(`${name}-atlas-project`, { orgId: cfg.atlas.orgId, name: `vchat-${cfg.env}` }, kept);
    const cluster = new mongodbatlas.AdvancedCluster(`${name}-atlas-cluster`, {
      projectId: project.id,
      name: `vchat-${cfg.env}`,
      clusterType: "REPLICASET",
      mongoDbMajorVersion: cfg.atlas.mongoVersion,
      backupEnabled: cfg.atlas.backup,
      terminationProtectionEnabled: cfg.retainData,
      replicationSpecs: [{
        regionConfigs: [{
          providerName: "AWS",
          regionName: atlasRegionName(cfg.region),
          priority: 7,
          electableSpecs: { instanceSize: cfg.atlas.instanceSize, nodeCount: 3 },
        }],
      }],
    }, kept);
    const dbPassword = new random.RandomPassword(`${name}-atlas-password`, { length: 40, special: false }, kept);
    const dbUser = new mongodbatlas.DatabaseUser(`${name}-atlas-user`, {
      projectId: project.id,
      authDatabaseName: "admin",
      username: `vchat-${cfg.env}`,
      password: dbPassword.result,
      roles: [{ roleName: "readWrite", databaseName: "vchat" }],
      scopes: [{ name: cluster.name, type: "CLUSTER" }],
    }, kept);
    network.natPublicIps.forEach((ip, i) => {
      new mongodbatlas.ProjectIpAccessList(`${name}-atlas-nat-${i}`, {
        projectId: project.id,
        ipAddress: ip,
        comment: `vchat ${cfg.env} NAT ${i}`,
      }, parent);
    });
    const atlasUri = pulumi.secret(pulumi.interpolate`mongodb+srv://${dbUser.username}:${dbPassword.result}@${cluster.connectionStrings.apply((c) => (c?.standardSrv ?? "").replace(/^mongodb\+srv:\/\//, ""))}/vchat?retryWrites=true&w=majority`);

    this.redisSecurityGroupId = sg.id;
    this.redisEndpoint = redis.primaryEndpointAddress;
    this.redisUrlSecretArn = storedSecret(`${name}-redis-url`, "vchat Redis URL (rediss://, with auth token)", redisUrl, cfg, this).arn;
    this.mongoUriSecretArn = storedSecret(`${name}-mongodb-uri`, "vchat MongoDB Atlas URI", atlasUri, cfg, this).arn;
    this.atlasConnectionString = atlasUri;
    this.registerOutputs({ redisEndpoint: this.redisEndpoint, atlasConnectionString: this.atlasConnectionString });
  }
}
