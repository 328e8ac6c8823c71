import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { EnvConfig } from "./config.ts";

export interface NetworkArgs {
  cfg: EnvConfig;
}

/**
 * VPC with a public and a private subnet in each of `azCount` zones. Load balancers, NAT and
 * the TURN instances (which need their own public IP) sit in public subnets; the service
 * tasks and Redis in private ones, reaching out through NAT.
 */
export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly vpcCidr: string;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  /** NAT egress addresses: the only sources Atlas lets in. */
  readonly natPublicIps: pulumi.Output<string>[];

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("vchat:stacks:Network", name, {}, opts);
    const { cfg } = args;
    const [a, b] = cfg.vpcCidr.split(".");
    // The zones this account can use in the region: `${region}a/b/c` does not exist everywhere
    // (us-east-1 accounts may lack a zone; some regions' zones are opt-in).
    const available = aws.getAvailabilityZonesOutput({ state: "available", filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }] }, { parent: this });
    const zones = Array.from({ length: cfg.azCount }, (_, i) => available.names.apply((names) => {
      const zone = names[i];
      if (!zone) throw new Error(`${cfg.region} offers ${names.length} availability zones to this account, the ${cfg.env} preset needs ${cfg.azCount}`);
      return zone;
    }));
    const tags = (role: string) => ({ Name: `${name}-${role}`, "vchat:env": cfg.env });
    const parent = { parent: this };

    const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: cfg.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tags("vpc") }, parent);
    // The default security group of a VPC allows all traffic between its members: empty it.
    new aws.ec2.DefaultSecurityGroup(`${name}-default-sg`, { vpcId: vpc.id, ingress: [], egress: [], tags: tags("default-sg-locked") }, parent);
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags("igw") }, parent);

    const publicRt = new aws.ec2.RouteTable(`${name}-public-rt`, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: tags("public-rt") }, parent);
    const publicSubnets = zones.map((az, i) => {
      const subnet = new aws.ec2.Subnet(`${name}-public-${i}`, {
        vpcId: vpc.id,
        availabilityZone: az,
        cidrBlock: `${a}.${b}.${i}.0/24`,
        // Off: only the TURN launch template asks for a public IP, explicitly.
        mapPublicIpOnLaunch: false,
        tags: tags(`public-${i}`),
      }, parent);
      new aws.ec2.RouteTableAssociation(`${name}-public-${i}-rta`, { subnetId: subnet.id, routeTableId: publicRt.id }, parent);
      return subnet;
    });

    const natCount = cfg.natGateways === "per-az" ? zones.length : 1;
    const nats = Array.from({ length: natCount }, (_, i) => {
      const eip = new aws.ec2.Eip(`${name}-nat-${i}-eip`, { domain: "vpc", tags: tags(`nat-${i}`) }, parent);
      const nat = new aws.ec2.NatGateway(`${name}-nat-${i}`, { allocationId: eip.id, subnetId: publicSubnets[i]!.id, tags: tags(`nat-${i}`) }, { parent: this, dependsOn: [igw] });
      return { eip, nat };
    });

    const privateSubnets = zones.map((az, i) => {
      const subnet = new aws.ec2.Subnet(`${name}-private-${i}`, {
        vpcId: vpc.id,
        availabilityZone: az,
        cidrBlock: `${a}.${b}.${100 + i}.0/24`,
        mapPublicIpOnLaunch: false,
        tags: tags(`private-${i}`),
      }, parent);
      const nat = nats[cfg.natGateways === "per-az" ? i : 0]!.nat;
      const rt = new aws.ec2.RouteTable(`${name}-private-${i}-rt`, { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }], tags: tags(`private-rt-${i}`) }, parent);
      new aws.ec2.RouteTableAssociation(`${name}-private-${i}-rta`, { subnetId: subnet.id, routeTableId: rt.id }, parent);
      return { subnet, rt };
    });

    // S3 (ECR image layers live there) through a free gateway endpoint instead of NAT's per-GB fee.
    new aws.ec2.VpcEndpoint(`${name}-s3`, {
      vpcId: vpc.id,
      serviceName: `com.amazonaws.${cfg.region}.s3`,
      vpcEndpointType: "Gateway",
      routeTableIds: privateSubnets.map((p) => p.rt.id),
      tags: tags("s3-endpoint"),
    }, parent);
    if (cfg.interfaceEndpoints) {
      // ~$7.30 per endpoint and AZ a month: worth it where task pulls and logs would cross
      // several NAT gateways (prod), not for a dev stack's trickle.
      const endpointSg = new aws.ec2.SecurityGroup(`${name}-endpoints-sg`, {
        vpcId: vpc.id,
        description: "vchat VPC interface endpoints: HTTPS from inside the VPC",
        ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [cfg.vpcCidr], description: "AWS APIs from the VPC" }],
        tags: { ...tags("endpoints-sg"), "vchat:role": "endpoints" },
      }, parent);
      for (const service of ["ecr.api", "ecr.dkr", "logs", "secretsmanager"]) {
        new aws.ec2.VpcEndpoint(`${name}-${service.replace(".", "-")}`, {
          vpcId: vpc.id,
          serviceName: `com.amazonaws.${cfg.region}.${service}`,
          vpcEndpointType: "Interface",
          privateDnsEnabled: true,
          subnetIds: privateSubnets.map((p) => p.subnet.id),
          securityGroupIds: [endpointSg.id],
          tags: tags(`${service}-endpoint`),
        }, parent);
      }
    }

    this.vpcId = vpc.id;
    this.vpcCidr = cfg.vpcCidr;
    this.publicSubnetIds = publicSubnets.map((s) => s.id);
    this.privateSubnetIds = privateSubnets.map((p) => p.subnet.id);
    this.natPublicIps = nats.map((n) => n.eip.publicIp);
    this.registerOutputs({ vpcId: this.vpcId, publicSubnetIds: this.publicSubnetIds, privateSubnetIds: this.privateSubnetIds, natPublicIps: this.natPublicIps });
  }
}
