/**
 * `vchat doctor` against real coturn instances on loopback, in the configurations an operator
 * meets: healthy, wrong secret, expired credentials, UDP disabled, TLS with a self-signed
 * certificate, production vs. insecure peer rules, and RFC 5780 on two addresses.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { coturnInstalled, startCoturn, type RunningCoturn } from "../turn/coturn-process.ts";
import { turnCredentials } from "../turn/credentials.ts";
import { runDoctor } from "../doctor/run.ts";
import type { CheckId, DoctorReport } from "../doctor/report.ts";
import { natdiscoveryInstalled, opensslInstalled, selfSignedCert, startRawCoturn } from "../turn/testing/coturn.ts";
import { run } from "../cli/program.ts";
import { checkExposure } from "../doctor/exposure.ts";
import { decode, isChannelData, methods } from "../turn/stun.ts";
import { StunSocket } from "../turn/transport.ts";
import { parseIceUrl } from "../turn/urls.ts";

const hasCoturn = coturnInstalled();
if (!hasCoturn) console.log("SKIPPED doctor TURN tests: turnserver (coturn) is not installed");

const check = (r: DoctorReport, id: CheckId) => r.checks.find((c) => c.id === id)!;

/** Runs the CLI with --json and returns exit code and parsed report. */
async function cli(args: string[]): Promise<{ code: number; report?: DoctorReport }> {
  let out = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const errSpy = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  const before = process.exitCode;
  try {
    const code = await run(["node", "vchat", "doctor", ...args]);
    return { code, report: out.trim() ? (JSON.parse(out) as DoctorReport) : undefined };
  } finally {
    spy.mockRestore();
    errSpy.mockRestore();
    process.exitCode = before;
  }
}

const turnArgs = (t: RunningCoturn, urls = t.urls) => urls.flatMap((u) => ["--turn", u]);

describe.skipIf(!hasCoturn)("doctor against a healthy local coturn", () => {
  let turn: RunningCoturn;
  beforeAll(async () => {
    turn = await startCoturn({ mode: "local" });
  });
  afterAll(async () => turn?.stop());

  it("passes every check it can run, measures the relay round trip and the call, exit 0", async () => {
    const { code, report } = await cli([...turnArgs(turn), "--secret", turn.secret, "--timeout", "2s", "--json"]);
    expect(code).toBe(0);
    const r = report!;
    for (const c of r.checks) expect(["pass", "skipped"], `${c.id}: ${c.status} ${c.verdict}`).toContain(c.status);
    for (const id of ["dns", "stun", "turn-udp", "turn-tcp", "relay", "call", "exposure"] as const) expect(check(r, id).status, id).toBe("pass");
    const relay = check(r, "relay").details!;
    expect(relay.received).toBe(20);
    expect(relay.lossPct).toBe(0);
    expect(relay.rttMedianMs).toBeGreaterThan(0);
    expect(typeof relay.jitterMs).toBe("number");
    const udp = check(r, "turn-udp").details!;
    expect(udp.authSteps).toEqual([
      { code: 401, note: "challenge (expected)" },
      { code: "success", note: "authenticated" },
    ]);
    expect((udp.relayed as { address: string }).address).toBe("127.0.0.1");
    expect(udp.lifetime).toBeGreaterThan(0);
    const call = check(r, "call").details!;
    expect(call.localCandidate).toBe("relay");
    for (const k of ["iceMs", "dtlsMs", "firstMediaMs"]) expect(call[k], k).toBeGreaterThan(0);
    expect(check(r, "nat").verdict).toMatch(/inconclusive.*OTHER-ADDRESS/);
    expect(r.summary.verdict).toBe("direct-likely");
  });

  it("wrong secret: TURN fails as authentication, summary broken, exit 1", async () => {
    const { code, report } = await cli([...turnArgs(turn), "--secret", "not-the-secret", "--timeout", "1s", "--no-call", "--json"]);
    expect(code).toBe(1);
    const udp = check(report!, "turn-udp");
    expect(udp.status).toBe("fail");
    expect(udp.details!.category).toBe("authentication");
    expect(udp.verdict).toMatch(/wrong user name or password/);
    expect(udp.details!.authSteps).toEqual([
      { code: 401, note: "challenge (expected)" },
      { code: 401, note: expect.stringMatching(/rejected/) },
    ]);
    expect(report!.summary.verdict).toBe("broken");
    expect(report!.summary.reason).toMatch(/authentication/);
  });

  it("takes the shared secret from VCHAT_TURN_SECRET, keeping it out of the process list", async () => {
    process.env.VCHAT_TURN_SECRET = turn.secret;
    try {
      const { code, report } = await cli([...turnArgs(turn), "--no-call", "--timeout", "1s", "--json"]);
      expect(code).toBe(0);
      expect(check(report!, "turn-udp").status).toBe("pass");
    } finally {
      delete process.env.VCHAT_TURN_SECRET;
    }
  });

  it("expired credentials: fail, classified as expired, exit 1", async () => {
    const c = turnCredentials(turn.secret, "someone", -120);
    const { code, report } = await cli([...turnArgs(turn), "--username", c.username, "--credential", c.credential, "--timeout", "1s", "--no-call", "--json"]);
    expect(code).toBe(1);
    for (const id of ["turn-udp", "turn-tcp"] as const) {
      const t = check(report!, id);
      expect(t.status).toBe("fail");
      expect(t.details!.category).toBe("authentication");
      expect(t.verdict).toMatch(/expired/);
    }
  });
});

describe.skipIf(!hasCoturn)("doctor when UDP is disabled", () => {
  let turn: RunningCoturn;
  beforeAll(async () => {
    turn = await startCoturn({ mode: "local", noUdp: true });
  });
  afterAll(async () => turn?.stop());

  it("UDP fails, TCP passes, the verdict names TURN over TCP", async () => {
    const udpUrl = `turn:127.0.0.1:${turn.port}?transport=udp`;
    const r = await runDoctor({ turn: [udpUrl, ...turn.urls], secret: turn.secret, timeoutMs: 700, call: false });
    expect(check(r, "turn-udp").status).toBe("fail");
    expect(check(r, "turn-udp").verdict).toMatch(/no answer/);
    expect(check(r, "turn-tcp").status).toBe("pass");
    expect(check(r, "relay").details!.transport).toBe("tcp");
    expect(check(r, "relay").status).toBe("pass");
    expect(r.summary.verdict).toBe("udp-blocked");
    expect(r.summary.reason).toMatch(/TURN over TCP/);
    expect(r.exitCode).toBe(1);
  });
});

const hasOpenssl = opensslInstalled();
if (!hasOpenssl) console.log("SKIPPED doctor TLS test: openssl is not installed");

describe.skipIf(!hasCoturn || !hasOpenssl)("doctor with TURN over TLS and a self-signed certificate", () => {
  let turn: RunningCoturn;
  let cert: ReturnType<typeof selfSignedCert>;
  beforeAll(async () => {
    cert = selfSignedCert(30);
    turn = await startCoturn({ mode: "local", tls: { certFile: cert.certFile, keyFile: cert.keyFile } });
  });
  afterAll(async () => {
    await turn?.stop();
    cert?.cleanup();
  });

  it("allocates over TLS and reports the certificate as self-signed with its expiry", async () => {
    const tlsUrl = turn.urls.find((u) => u.startsWith("turns:"))!;
    const r = await runDoctor({ turn: [tlsUrl], secret: turn.secret, timeoutMs: 2000, call: false });
    const tls = check(r, "turn-tls");
    expect(tls.status).toBe("warn");
    expect(tls.verdict).toMatch(/self-signed/);
    const info = tls.details!.tls as { selfSigned: boolean; daysLeft: number; protocol: string };
    expect(info.selfSigned).toBe(true);
    expect(info.daysLeft).toBeGreaterThanOrEqual(29);
    expect(info.protocol).toMatch(/TLSv1\.[23]/);
    expect(tls.details!.relayed).toBeTruthy();
    // TLS alone carries calls: the relay works over it.
    expect(check(r, "relay").details!.transport).toBe("tls");
    expect(check(r, "relay").status).toBe("pass");
    expect(r.exitCode).toBe(0);
  });

  it("warns when the certificate expires within two weeks", async () => {
    const soon = selfSignedCert(5);
    const t = await startCoturn({ mode: "local", tls: { certFile: soon.certFile, keyFile: soon.keyFile } });
    try {
      const r = await runDoctor({ turn: [t.urls.find((u) => u.startsWith("turns:"))!], secret: t.secret, timeoutMs: 2000, call: false });
      const tls = check(r, "turn-tls");
      expect(tls.status).toBe("warn");
      expect(tls.verdict).toMatch(/certificate expires in [45] days/);
    } finally {
      await t.stop();
      soon.cleanup();
    }
  });
});

describe.skipIf(!hasCoturn)("TURN security exposure", () => {
  it("the generated production config refuses loopback, private and metadata peers: pass", async () => {
    const turn = await startCoturn({ mode: "production" });
    try {
      const r = await runDoctor({ turn: turn.urls, secret: turn.secret, timeoutMs: 1000 });
      const e = check(r, "exposure");
      expect(e.status, e.verdict).toBe("pass");
      const probes = e.details!.probes as { address: string; answer: string }[];
      for (const a of ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.169.254", "0.0.0.0"]) {
        expect(probes.find((p) => p.address === a)?.answer, a).toBe("refused");
      }
      // ...while a public peer is accepted: the refusals are the rules, not a server that relays nowhere.
      expect(probes.find((p) => p.address === "8.8.8.8")?.answer).toBe("allowed");
      // A production server on loopback cannot relay to its own loopback relay ports: said, not failed.
      expect(check(r, "relay").status).toBe("skipped");
      expect(check(r, "relay").verdict).toMatch(/refuses to relay to its own non-public/);
      expect(check(r, "call").status).toBe("skipped");
      expect(check(r, "call").ms).toBeLessThan(4000);
    } finally {
      await turn.stop();
    }
  });

  it("allow-loopback-peers without denied-peer-ip is flagged with the settings that fix it, exit 1", async () => {
    const secret = "exposed-secret";
    const turn = await startRawCoturn(secret, ["allow-loopback-peers"]);
    try {
      const r = await runDoctor({ turn: [`turn:127.0.0.1:${turn.port}?transport=udp`], secret, timeoutMs: 1000, call: false });
      const e = check(r, "exposure");
      expect(e.status).toBe("fail");
      expect(e.verdict).toMatch(/169\.254\.169\.254/);
      expect(e.verdict).toMatch(/10\.0\.0\.1/);
      expect(e.verdict).toMatch(/denied-peer-ip=169\.254\.0\.0-169\.254\.255\.255/);
      expect(r.exitCode).toBe(1);
    } finally {
      await turn.stop();
    }
  });

  it("a server that refuses every peer, public ones too, is not taken for a safe one", async () => {
    const secret = "closed-secret";
    const turn = await startRawCoturn(secret, ["denied-peer-ip=0.0.0.0-255.255.255.255"]);
    try {
      const c = turnCredentials(secret, "doctor", 600);
      const target = { url: parseIceUrl(`turn:127.0.0.1:${turn.port}?transport=udp`), creds: { username: c.username, password: c.credential } };
      const out = await checkExposure(target, "127.0.0.1", 1000);
      expect(out.status).toBe("warn");
      expect(out.verdict).toMatch(/refuses even the public address 8\.8\.8\.8/);
    } finally {
      await turn.stop();
    }
  });

  it("only asks the server: no Send indication or ChannelData ever leaves, even where peers are allowed", async () => {
    const secret = "exposed-secret";
    const turn = await startRawCoturn(secret, ["allow-loopback-peers"]);
    const sent: Buffer[] = [];
    const original = StunSocket.prototype.sendRaw;
    const spy = vi.spyOn(StunSocket.prototype, "sendRaw").mockImplementation(function (this: StunSocket, buf: Buffer, to?: { address: string; port: number }) {
      sent.push(Buffer.from(buf));
      return original.call(this, buf, to);
    });
    try {
      const c = turnCredentials(secret, "doctor", 600);
      const target = { url: parseIceUrl(`turn:127.0.0.1:${turn.port}?transport=udp`), creds: { username: c.username, password: c.credential } };
      const out = await checkExposure(target, "127.0.0.1", 1000);
      expect(out.status).toBe("fail");
      expect(sent.length).toBeGreaterThan(10);
      const sentMethods = new Set<number>();
      for (const b of sent) {
        expect(isChannelData(b), "ChannelData sent").toBe(false);
        const m = decode(b);
        expect(m.cls).toBe("request");
        sentMethods.add(m.method);
      }
      expect([...sentMethods].sort()).toEqual([methods.allocate, methods.refresh, methods.createPermission, methods.channelBind].sort());
    } finally {
      spy.mockRestore();
      await turn.stop();
    }
  });
});

const hasNatdiscovery = natdiscoveryInstalled();
if (!hasNatdiscovery) console.log("SKIPPED comparison with turnutils_natdiscovery: it is not installed");

describe.skipIf(!hasCoturn)("RFC 5780 NAT behaviour on coturn listening on 127.0.0.1 and 127.0.0.2", () => {
  let turn: RunningCoturn;
  beforeAll(async () => {
    turn = await startCoturn({ mode: "local", rfc5780: true, listeningIps: ["127.0.0.1", "127.0.0.2"] });
  });
  afterAll(async () => turn?.stop());

  it("gives a mapping and a filtering verdict", async () => {
    const r = await runDoctor({ turn: [`stun:127.0.0.1:${turn.port}`], timeoutMs: 1000, call: false });
    const nat = check(r, "nat");
    expect(nat.status).toBe("pass");
    expect(nat.details!.otherAddress).toMatchObject({ address: "127.0.0.2" });
    expect(nat.details!.mapping).toBe("endpoint-independent");
    expect(nat.details!.filtering).toBe("endpoint-independent");
    expect(nat.details!.nat).toBe(false);
    expect(nat.verdict).toMatch(/no NAT.*endpoint independent mapping, endpoint independent filtering/);
  });

  it.skipIf(!hasNatdiscovery)("agrees with coturn's turnutils_natdiscovery on the same server", async () => {
    const r = await runDoctor({ turn: [`stun:127.0.0.1:${turn.port}`], timeoutMs: 1000, call: false });
    const nat = check(r, "nat").details!;
    const out = spawnSync("turnutils_natdiscovery", ["-m", "-f", "-p", String(turn.port), "127.0.0.1"], { encoding: "utf8", timeout: 20_000 }).stdout;
    const theirs = (kind: string) => {
      const m = new RegExp(`NAT with (.+?) ${kind}!`).exec(out);
      return m ? m[1]!.toLowerCase().replace(/ /g, "-") : `no ${kind} verdict in: ${out.slice(-300)}`;
    };
    expect(nat.mapping).toBe(theirs("Mapping"));
    expect(nat.filtering).toBe(theirs("Filtering"));
  });

  it("without OTHER-ADDRESS it says inconclusive and why", async () => {
    const plain = await startCoturn({ mode: "local" });
    try {
      const r = await runDoctor({ turn: [`stun:127.0.0.1:${plain.port}`], timeoutMs: 1000, call: false });
      expect(check(r, "nat").status).toBe("skipped");
      expect(check(r, "nat").verdict).toMatch(/^inconclusive: the server does not offer OTHER-ADDRESS/);
    } finally {
      await plain.stop();
    }
  });
});

describe("usage errors exit 2", () => {
  it.each([
    [[] as string[], /--url/],
    [["--turn", "http://example.com"], /not a STUN\/TURN URL/],
    [["--turn", "turn:127.0.0.1:3478"], /need --secret/],
    [["--turn", "turn:127.0.0.1:3478", "--secret", "s", "--username", "u", "--credential", "c"], /either --secret/],
    [["--url", "ftp://x"], /http/],
    [["--url", "http://127.0.0.1:1", "--timeout", "soon"], /duration/],
  ])("%j", async (args, message) => {
    let err = "";
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((s: string | Uint8Array) => {
      err += String(s);
      return true;
    });
    try {
      expect(await run(["node", "vchat", "doctor", ...args])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(err).toMatch(message);
  });
});
