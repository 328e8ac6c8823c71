import { describe, expect, it } from "vitest";
import { coturnConfig, deniedPeerRanges } from "./coturn-config.ts";
import { turnCredentials } from "./credentials.ts";

const lines = (text: string) => text.trim().split("\n");
const values = (text: string, key: string) => lines(text).filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1));

describe("coturnConfig", () => {
  it("production: REST auth, quotas, no CLI, and every private, loopback, link-local and IPv4-mapped range denied", () => {
    const conf = coturnConfig({ secret: "s3cret", realm: "example.org", minPort: 50000, maxPort: 50999 });
    expect(lines(conf)).toEqual(
      expect.arrayContaining(["use-auth-secret", "static-auth-secret=s3cret", "realm=example.org", "fingerprint", "no-cli", "no-multicast-peers", "min-port=50000", "max-port=50999", "user-quota=12", "total-quota=10000"]),
    );
    expect(conf).not.toContain("allow-loopback-peers");
    const denied = values(conf, "denied-peer-ip");
    for (const range of ["127.0.0.0-127.255.255.255", "10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255", "169.254.0.0-169.254.255.255", "::1", "::ffff:0.0.0.0-::ffff:255.255.255.255", "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]) {
      expect(denied).toContain(range);
    }
    expect(denied).toEqual([...deniedPeerRanges]);
  });

  it("local mode allows loopback peers only, everything else stays denied", () => {
    const conf = coturnConfig({ secret: "s", mode: "local" });
    expect(lines(conf)).toContain("allow-loopback-peers");
    const denied = values(conf, "denied-peer-ip");
    expect(denied).not.toContain("127.0.0.0-127.255.255.255");
    expect(denied).not.toContain("::1");
    expect(denied).toContain("10.0.0.0-10.255.255.255");
    expect(denied).toContain("169.254.0.0-169.254.255.255");
  });

  it("adds extra denied ranges (the VPC), external IP, TLS and the listeners", () => {
    const conf = coturnConfig({
      secret: "s",
      extraDeniedPeerRanges: ["10.20.0.0-10.20.255.255"],
      externalIp: "203.0.113.7/10.20.1.5",
      listeningIps: ["10.20.1.5"],
      tls: { certFile: "/etc/turn/cert.pem", keyFile: "/etc/turn/key.pem" },
      altTlsListeningPort: 443,
    });
    expect(values(conf, "denied-peer-ip")).toContain("10.20.0.0-10.20.255.255");
    expect(values(conf, "external-ip")).toEqual(["203.0.113.7/10.20.1.5"]);
    expect(values(conf, "listening-ip")).toEqual(["10.20.1.5"]);
    expect(values(conf, "tls-listening-port")).toEqual(["5349"]);
    expect(values(conf, "alt-tls-listening-port")).toEqual(["443"]);
    expect(values(conf, "cert")).toEqual(["/etc/turn/cert.pem"]);
    expect(lines(conf)).toEqual(expect.arrayContaining(["no-tlsv1", "no-tlsv1_1", "no-rfc5780"]));
    expect(lines(conf)).not.toContain("no-tls");
  });

  it("allows named peers inside denied ranges (vchat dev --host on a LAN or lab address), and no others", () => {
    const conf = coturnConfig({ secret: "s", mode: "local", allowedPeerIps: ["203.0.113.30"] });
    expect(values(conf, "allowed-peer-ip")).toEqual(["203.0.113.30"]);
    expect(values(conf, "denied-peer-ip")).toContain("203.0.113.0-203.0.113.255");
    expect(values(coturnConfig({ secret: "s" }), "allowed-peer-ip")).toEqual([]);
  });

  it("refuses TCP relays unless allowed, and limits bandwidth per session and per server", () => {
    const conf = coturnConfig({ secret: "s", maxBps: 500_000, bpsCapacity: 16_000_000, userQuota: 4, totalQuota: 300 });
    expect(lines(conf)).toContain("no-tcp-relay");
    expect(values(conf, "max-bps")).toEqual(["500000"]);
    expect(values(conf, "bps-capacity")).toEqual(["16000000"]);
    expect(values(conf, "user-quota")).toEqual(["4"]);
    expect(values(conf, "total-quota")).toEqual(["300"]);
    expect(lines(coturnConfig({ secret: "s", allowTcpRelay: true }))).not.toContain("no-tcp-relay");
    // Unset limits are written out as unlimited, so a reader of the file sees the choice.
    expect(values(coturnConfig({ secret: "s" }), "bps-capacity")).toEqual(["0"]);
  });

  it("refuses a secret that would break the file", () => {
    expect(() => coturnConfig({ secret: "" })).toThrow(/secret/);
    expect(() => coturnConfig({ secret: "two words" })).toThrow(/secret/);
    expect(() => coturnConfig({ secret: "a\nrealm=evil" })).toThrow(/secret/);
  });

  it("is deterministic", () => {
    expect(coturnConfig({ secret: "x", realm: "r" })).toBe(coturnConfig({ secret: "x", realm: "r" }));
  });
});

describe("turnCredentials", () => {
  it("follows the TURN REST scheme: expiry:user and base64 HMAC-SHA1", () => {
    // Worked example: HMAC-SHA1("secret", "1700000600:alice") computed independently with openssl.
    const c = turnCredentials("secret", "alice", 600, 1_700_000_000_000);
    expect(c.username).toBe("1700000600:alice");
    expect(c.expiresAt).toBe(1_700_000_600);
    expect(c.credential).toBe("5PrY1fcLQr5jls8N4ZU7fEnmVNE=");
  });
});
