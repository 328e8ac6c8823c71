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
    const zones = Array.from({ length: cfg.azCount }, (_, i) => `${cfg.region}${"abc"[i]}`);
    const tags = (role: string) => ({ Name: `${name}-${role}`, "vchat:env": cfg.env });
    const parent = { parent: this };

    const vpc = new aws.ec2.Vpc(`${name}-vpc`, { cidrBlock: cfg.vpcCidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tags("vpc") }, parent);
    // The default security group of a VPC allows all traffic between its members: empty it.
    new aws.ec2.DefaultSecurityGroup(`${name}-default-sg`, { vpcId: vpc.id, ingress: [], egress: [], tags: tags("default-sg-locked") }, parent);
    const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags("igw") }, parent);

    const publicRt = new aws.ec2.RouteTable(
      `${name}-public-rt`,
      { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: tags("public-rt") },
      parent,
    );
    const publicSubnets = zones.map((az, i) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-public-${i}`,
        {
          vpcId: vpc.id,
          availabilityZone: az,
          cidrBlock: `${a}.${b}.${i}.0/24`,
          // Off: only the TURN launch template asks for a public IP, explicitly.
          mapPublicIpOnLaunch: false,
          tags: tags(`public-${az}`),
        },
        parent,
      );
      new aws.ec2.RouteTableAssociation(`${name}-public-${i}-rta`, { subnetId: subnet.id, routeTableId: publicRt.id }, parent);
      return subnet;
    });

    const natCount = cfg.natGateways === "per-az" ? zones.length : 1;
    const nats = Array.from({ length: natCount }, (_, i) => {
      const eip = new aws.ec2.Eip(`${name}-nat-${i}-eip`, { domain: "vpc", tags: tags(`nat-${i}`) }, parent);
      const nat = new aws.ec2.NatGateway(
        `${name}-nat-${i}`,
        { allocationId: eip.id, subnetId: publicSubnets[i]!.id, tags: tags(`nat-${i}`) },
        { parent: this, dependsOn: [igw] },
      );
      return { eip, nat };
    });

    const privateSubnets = zones.map((az, i) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-private-${i}`,
        {
          vpcId: vpc.id,
          availabilityZone: az,
          cidrBlock: `${a}.${b}.${100 + i}.0/24`,
          mapPublicIpOnLaunch: false,
          tags: tags(`private-${az}`),
        },
        parent,
      );
      const nat = nats[cfg.natGateways === "per-az" ? i : 0]!.nat;
      const rt = new aws.ec2.RouteTable(
        `${name}-private-${i}-rt`,
        { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }], tags: tags(`private-rt-${az}`) },
        parent,
      );
      new aws.ec2.RouteTableAssociation(`${name}-private-${i}-rta`, { subnetId: subnet.id, routeTableId: rt.id }, parent);
      return subnet;
    });

    this.vpcId = vpc.id;
    this.vpcCidr = cfg.vpcCidr;
    this.publicSubnetIds = publicSubnets.map((s) => s.id);
    this.privateSubnetIds = privateSubnets.map((s) => s.id);
    this.natPublicIps = nats.map((n) => n.eip.publicIp);
    this.registerOutputs({
      vpcId: this.vpcId,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds,
      natPublicIps: this.natPublicIps,
    });
  }
}
