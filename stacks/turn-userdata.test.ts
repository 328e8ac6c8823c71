import { randomBytes } from "node:crypto";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { coturnConfig } from "../turn/coturn-config.ts";
import { coturnInstalled, startCoturn, type RunningCoturn } from "../turn/coturn-process.ts";
import { turnCredentials } from "../turn/credentials.ts";
import { offlineEnvConfig } from "./config.ts";
import { planOffline } from "./offline.ts";
import { StunSocket } from "../turn/transport.ts";
import { TurnAllocation, TurnError } from "../turn/client.ts";
import { cloudCoturnConfig, cloudCoturnOptions, embeddedCoturnConfig, secretPlaceholder, turnUserData } from "./turn-userdata.ts";

describe("TURN user data", () => {
  it("embeds exactly what coturnConfig() renders for the cloud, for dev and prod", async () => {
    for (const env of ["dev", "prod"] as const) {
      const plan = await planOffline(env);
      const lt = plan.resources.find((r) => r.type === "aws:ec2/launchTemplate:LaunchTemplate");
      expect(lt, `${env} launch template`).toBeDefined();
      const userData = Buffer.from(String(lt!.props.userData), "base64").toString("utf8");
      const embedded = embeddedCoturnConfig(userData);
      expect(embedded).toBe(coturnConfig(cloudCoturnOptions(offlineEnvConfig(env))));
      expect(embedded).toBe(cloudCoturnConfig(offlineEnvConfig(env)));
    }
  });

  it("renders the cloud settings: production mode, external IP from metadata, VPC and IMDS denied, no loopback", () => {
    const text = cloudCoturnConfig(offlineEnvConfig("prod"));
    const lines = text.split("\n");
    expect(lines).toContain("external-ip=@@PUBLIC_IPV4@@/@@PRIVATE_IPV4@@");
    expect(lines).toContain(`static-auth-secret=${secretPlaceholder}`);
    expect(lines).toContain("denied-peer-ip=10.30.0.0-10.30.255.255");
    expect(lines).toContain("denied-peer-ip=169.254.169.254");
    expect(lines).toContain("denied-peer-ip=127.0.0.0-127.255.255.255");
    expect(lines).toContain("listening-port=3478");
    expect(lines).not.toContain("allow-loopback-peers");
  });

  it("reads IMDS with v2 tokens, pins the coturn image, and drains on scale-in", () => {
    const ud = turnUserData({ config: "realm=x\n", region: "eu-west-1", secretId: "vchat-dev/turn-shared-secret", image: "coturn/coturn:4.10.0", asgName: "vchat-dev-turn", hookName: "drain", drainTimeoutSeconds: 600, logGroup: "/vchat/dev/turn" });
    expect(ud).toContain("X-aws-ec2-metadata-token-ttl-seconds");
    expect(ud).toContain("meta-data/public-ipv4");
    expect(ud).toContain('IMAGE="coturn/coturn:4.10.0"');
    expect(ud).toContain('"$IMAGE" -c /etc/coturn/turnserver.conf');
    expect(ud).toContain("--secret-id 'vchat-dev/turn-shared-secret'");
    expect(ud).toContain("docker kill --signal=SIGUSR1 coturn");
    expect(ud).toContain("autoscaling/target-lifecycle-state");
    expect(ud).toContain("complete-lifecycle-action");
    const cached = turnUserData({ config: "realm=x\n", region: "eu-west-1", secretId: "s", image: "coturn/coturn:4.10.0", ecrCachePrefix: "vchat-dev-dockerhub", asgName: "a", hookName: "h", drainTimeoutSeconds: 600, logGroup: "l" });
    expect(cached).toContain('IMAGE="$REGISTRY/vchat-dev-dockerhub/coturn/coturn:4.10.0"');
    expect(cached).toContain("aws ecr get-login-password --region eu-west-1");
    expect(() => turnUserData({ config: "x\n", region: "eu-west-1; rm -rf /", secretId: "arn:aws:x", image: "i:1.0.0", asgName: "a", hookName: "h", drainTimeoutSeconds: 600, logGroup: "l" })).toThrow(/unsafe/);
  });
});

const hasCoturn = coturnInstalled();
if (!hasCoturn) console.warn("SKIPPED: production coturn config against a real coturn — turnserver is not installed (apt-get install coturn)");

describe.skipIf(!hasCoturn)("the cloud coturn config on a real coturn", () => {
  const secret = randomBytes(16).toString("hex");
  let turn: RunningCoturn;
  let socket: StunSocket;
  let session: TurnAllocation;
  // CreatePermission asks the server only: no packet goes to the peer address.
  const permit = (ip: string) =>
    session.createPermission([{ family: 4, address: ip, port: 0 }]).then(
      () => "granted",
      (err: unknown) => (err instanceof TurnError ? err.code : Promise.reject(err)),
    );

  beforeAll(async () => {
    // The cloud options with only what a single loopback machine forces: ports, paths and the
    // external address (the instance would put its own public/private IPs there).
    turn = await startCoturn({ ...cloudCoturnOptions(offlineEnvConfig("dev"), { secret, externalIp: "127.0.0.1" }), listeningPort: undefined, minPort: undefined, maxPort: undefined });
    const cred = turnCredentials(secret, "stacks-test", 600);
    socket = await StunSocket.open("udp", { host: turn.host, port: turn.port, timeoutMs: 2000 });
    session = await TurnAllocation.allocate(socket, { username: cred.username, password: cred.credential }, { timeoutMs: 2000 });
  });
  afterAll(async () => {
    await session?.close();
    socket?.close();
    await turn?.stop();
  });

  it("runs the production deny list (no loopback peers allowed)", () => {
    const cloud = cloudCoturnConfig(offlineEnvConfig("dev")).split("\n").filter((l) => l.startsWith("denied-peer-ip=") || l.includes("loopback"));
    const running = turn.config.split("\n").filter((l) => l.startsWith("denied-peer-ip=") || l.includes("loopback"));
    expect(running).toEqual(cloud);
    expect(session.relayed.address).toBe("127.0.0.1");
  });

  it.each([
    ["loopback", "127.0.0.1"],
    ["loopback, other address", "127.1.2.3"],
    ["the VPC", "10.20.1.5"],
    ["instance metadata", "169.254.169.254"],
    ["private 172.16/12", "172.16.0.10"],
    ["private 192.168/16", "192.168.1.1"],
    ["carrier-grade NAT", "100.64.0.1"],
  ])("refuses CreatePermission to %s (%s) with 403", async (_what, ip) => {
    expect(await permit(ip)).toBe(403);
  });

  it("grants CreatePermission to a public peer (nothing is sent to it)", async () => {
    expect(await permit("8.8.8.8")).toBe("granted");
  });
});

describe.skipIf(!hasCoturn)("TCP relays (RFC 6062) on a real coturn", () => {
  const secret = randomBytes(16).toString("hex");
  const cred = turnCredentials(secret, "tcp-relay-test", 600);
  const creds = { username: cred.username, password: cred.credential };
  let peer: net.Server;
  let peerPort: number;
  let peerConnections = 0;

  beforeAll(async () => {
    // A TCP peer on loopback: the control case must reach it, the cloud config must not even try.
    peer = net.createServer((s) => {
      peerConnections++;
      s.destroy();
    });
    await new Promise<void>((r) => peer.listen(0, "127.0.0.1", r));
    peerPort = (peer.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => peer.close(() => r())));

  /** Allocate a TCP relay over a TCP control connection (RFC 6062 §5.1), then Connect to the peer. */
  async function tcpRelay(turn: RunningCoturn): Promise<string | number> {
    const socket = await StunSocket.open("tcp", { host: turn.host, port: turn.port, timeoutMs: 2000 });
    try {
      const session = await TurnAllocation.allocate(socket, creds, { timeoutMs: 2000, relay: "tcp" });
      await session.connect({ family: 4, address: "127.0.0.1", port: peerPort });
      return "connected";
    } catch (err) {
      if (err instanceof TurnError) return err.code;
      throw err;
    } finally {
      socket.close();
    }
  }

  it("the cloud config refuses a TCP allocation with 442, and no connection reaches the peer", async () => {
    const turn = await startCoturn({ ...cloudCoturnOptions(offlineEnvConfig("dev"), { secret, externalIp: "127.0.0.1" }), mode: "local", listeningPort: undefined, minPort: undefined, maxPort: undefined });
    try {
      expect(turn.config).toContain("\nno-tcp-relay\n");
      const before = peerConnections;
      expect(await tcpRelay(turn)).toBe(442);
      expect(peerConnections).toBe(before);
    } finally {
      await turn.stop();
    }
  });

  it("control: with turnAllowTcpRelay the same server connects to the peer (so the refusal above is the setting's)", async () => {
    const cfg = offlineEnvConfig("dev", { turnAllowTcpRelay: "true" });
    const turn = await startCoturn({ ...cloudCoturnOptions(cfg, { secret, externalIp: "127.0.0.1" }), mode: "local", listeningPort: undefined, minPort: undefined, maxPort: undefined });
    try {
      expect(turn.config).not.toContain("no-tcp-relay");
      const before = peerConnections;
      expect(await tcpRelay(turn)).toBe("connected");
      await new Promise((r) => setTimeout(r, 100));
      expect(peerConnections).toBe(before + 1);
    } finally {
      await turn.stop();
    }
  });
});
