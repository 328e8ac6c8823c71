/**
 * `vchat doctor --url` run from inside each client network of the NAT lab (real namespaces,
 * real nftables NAT, real coturn answering RFC 5780 on two addresses): its mapping, filtering
 * and summary verdicts must match how the lab built each network.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import type { CheckId, DoctorReport } from "../doctor/report.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { labAddresses, natlabMissing, startLabService, startNatLab, type LabService, type NatKind, type NatLab } from "./support/natlab.ts";

const missing = natlabMissing() ?? (coturnInstalled() ? null : "turnserver (coturn) is not installed");

const vchat = new URL("../cli/vchat.ts", import.meta.url).pathname;

interface Expected {
  summary: DoctorReport["summary"]["verdict"];
  /** The nat check's findings; undefined when it cannot measure (no UDP). */
  nat?: { nat: boolean; mapping: string; filtering: string };
  /** Checks that must fail: what the network blocks. */
  failing: CheckId[];
}

const table: Record<NatKind, Expected> = {
  "eim-eif": { summary: "direct-likely", nat: { nat: true, mapping: "endpoint-independent", filtering: "endpoint-independent" }, failing: [] },
  "eim-adf": { summary: "direct-likely", nat: { nat: true, mapping: "endpoint-independent", filtering: "address-dependent" }, failing: [] },
  "eim-apdf": { summary: "direct-likely", nat: { nat: true, mapping: "endpoint-independent", filtering: "address-and-port-dependent" }, failing: [] },
  symmetric: { summary: "turn-required", nat: { nat: true, mapping: "address-and-port-dependent", filtering: "address-and-port-dependent" }, failing: [] },
  "udp-blocked": { summary: "udp-blocked", failing: ["stun", "turn-udp"] },
  none: { summary: "direct-likely", nat: { nat: false, mapping: "endpoint-independent", filtering: "endpoint-independent" }, failing: [] },
};
const kinds = Object.keys(table) as NatKind[];

describeIf(!missing, missing ?? "")("vchat doctor through real NATs (network namespaces)", () => {
  let lab: NatLab;
  let service: LabService;
  const reports = new Map<NatKind, { code: number | null; report: DoctorReport }>();

  beforeAll(async () => {
    lab = await startNatLab({ nets: kinds, serverAddresses: Object.values(labAddresses) });
    service = await startLabService(lab);
    // All networks at once: each doctor waits on its own NAT's silences, not on the others'.
    const t0 = performance.now();
    await Promise.all(
      lab.nets.map(async (net) => {
        const r = await lab.run(net.ns, process.execPath, [vchat, "doctor", "--url", service.url, "--json", "--no-call", "--timeout", "2s"], {
          timeoutMs: 60_000,
          env: service.env,
        });
        let report: DoctorReport;
        try {
          report = JSON.parse(r.stdout) as DoctorReport;
        } catch {
          throw new Error(`doctor in ${net.kind} printed no report (exit ${r.code}): ${r.stderr.slice(0, 2000)}`);
        }
        reports.set(net.kind, { code: r.code, report });
      }),
    );
    console.log(`natlab doctor: ${kinds.length} networks in ${Math.round(performance.now() - t0)} ms`);
  }, 90_000);

  afterAll(async () => {
    await service?.stop();
    await lab?.destroy();
  });

  it.each(kinds)("from a %s network, the doctor's verdicts match the network", (kind) => {
    const { code, report } = reports.get(kind)!;
    const want = table[kind];
    const check = (id: CheckId) => report.checks.find((c) => c.id === id)!;
    const net = lab.nets.find((n) => n.kind === kind)!;
    expect(report.summary.verdict, report.summary.reason).toBe(want.summary);
    if (want.nat) {
      expect(check("nat").details, check("nat").verdict).toMatchObject(want.nat);
      // The reflexive address the server saw is the NAT's outside address (or the host's own).
      expect((check("stun").details as { reflexive?: { address: string } }).reflexive?.address).toBe(net.publicAddress);
    } else {
      expect(check("nat").verdict).toMatch(/^inconclusive: no STUN answer over UDP/);
    }
    const transports = ["turn-udp", "turn-tcp", ...(service.certFile ? (["turn-tls"] as const) : [])] as const;
    for (const id of [...transports, "stun", "relay"] as const) {
      expect(check(id).status, `${id}: ${check(id).verdict}`).toBe(want.failing.includes(id) ? "fail" : "pass");
    }
    // A network that blocks UDP reaches TURN over TCP and TLS on 443, and the reason says which to use.
    if (kind === "udp-blocked")
      expect(report.summary.reason).toMatch(service.certFile ? /TURN over TLS \(turns:, ideally on port 443\) does/ : /TURN over TCP does/);
    expect(code).toBe(want.failing.length ? 1 : 0);
  });

  /** `vchat dev --host HOST` in the lab's public namespace; resolves to its start line and a stop. */
  async function labDev(host: string, port: number) {
    const dev = lab.spawn(lab.pub, process.execPath, [vchat, "dev", "--host", host, "--port", String(port), "--db", ":memory:", "--json"]);
    const exited = new Promise((r) => (dev.exitCode !== null ? r(null) : dev.once("exit", r)));
    // Its coturn stops with it; whatever is left dies with the lab.
    const stop = async () => {
      dev.kill("SIGTERM");
      await exited;
    };
    try {
      const start = await new Promise<{ url: string; turn: string[] }>((resolve, reject) => {
        let out = "";
        dev.stdout!.on("data", (c: Buffer) => {
          out += c.toString();
          if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]!) as { url: string; turn: string[] });
        });
        dev.once("exit", (code) => reject(new Error(`vchat dev exited ${code}`)));
      });
      return { start, stop };
    } catch (err) {
      await stop();
      throw err;
    }
  }

  it("vchat dev --host ADDR hands out TURN on ADDR, and a NATed client relays through it", { timeout: 90_000 }, async () => {
    const { start, stop } = await labDev(labAddresses.dev, 8080);
    try {
      expect(start.turn).toEqual([
        expect.stringMatching(new RegExp(`^turn:${labAddresses.dev.replace(/\./g, "\\.")}:\\d+\\?transport=udp$`)),
        expect.stringMatching(/transport=tcp$/),
      ]);
      const net = lab.nets.find((n) => n.kind === "eim-apdf")!;
      const r = await lab.run(net.ns, process.execPath, [vchat, "doctor", "--url", start.url.replace(/\/$/, ""), "--json", "--timeout", "2s"], {
        timeoutMs: 60_000,
      });
      const report = JSON.parse(r.stdout) as DoctorReport;
      // The relay and the relay-only call go from one relay port of ADDR to another.
      for (const id of ["api-ice", "turn-udp", "turn-tcp", "relay", "call"] as const) {
        const c = report.checks.find((x) => x.id === id)!;
        expect(c.status, `${id}: ${c.verdict}`).toBe("pass");
      }
    } finally {
      await stop();
    }
  });

  it("vchat dev --host 0.0.0.0 hands out TURN on the machine's own address, and a NATed client relays through it", { timeout: 90_000 }, async () => {
    const { start, stop } = await labDev("0.0.0.0", 8081);
    try {
      // A wildcard is no address to hand out: the TURN URLs name the namespace's first non-loopback IPv4
      // (its bridge address, 203.0.113.1), which the NATed hosts reach through their routers.
      const hosts = start.turn.map((u) => /^turn:([\d.]+):\d+\?transport=(udp|tcp)$/.exec(u)?.[1]);
      expect(hosts.length).toBeGreaterThan(0);
      expect(new Set(hosts).size).toBe(1);
      expect(hosts[0]).toMatch(/^203\.0\.113\./);
      const net = lab.nets.find((n) => n.kind === "eim-apdf")!;
      const r = await lab.run(net.ns, process.execPath, [vchat, "doctor", "--url", `http://${hosts[0]}:8081`, "--json", "--timeout", "2s"], {
        timeoutMs: 60_000,
      });
      const report = JSON.parse(r.stdout) as DoctorReport;
      for (const id of ["api-ice", "turn-udp", "relay", "call"] as const) {
        const c = report.checks.find((x) => x.id === id)!;
        expect(c.status, `${id}: ${c.verdict}`).toBe("pass");
      }
    } finally {
      await stop();
    }
  });
});
