/**
 * `vchat doctor --url` against a real local deployment (`startDevServer` with its coturn):
 * API, WebSocket auth, /api/ice, then everything TURN, within the 5 s budget.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { describeIf } from "./support/skip.ts";
import type { DevServer } from "../server/dev.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { freePort } from "../lib/ports.ts";
import { run } from "../cli/program.ts";
import { runDoctor } from "../doctor/run.ts";
import type { CheckId, DoctorReport } from "../doctor/report.ts";
import { testDev } from "./support/dev.ts";

const hasCoturn = coturnInstalled();

const check = (r: DoctorReport, id: CheckId) => r.checks.find((c) => c.id === id)!;

describeIf(hasCoturn, "turnserver (coturn) is not installed")("vchat doctor --url against a healthy local deployment", () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await testDev({ turn: true });
  });
  afterAll(async () => dev?.stop());

  it("every check passes or says why it was skipped, exit 0, in under 5 s", async () => {
    let out = "";
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s: string | Uint8Array) => {
      out += String(s);
      return true;
    });
    const before = process.exitCode;
    const start = performance.now();
    let code: number;
    try {
      code = await run(["node", "vchat", "doctor", "--url", dev.url, "--json"]);
    } finally {
      spy.mockRestore();
      process.exitCode = before;
    }
    const wallMs = performance.now() - start;
    const r = JSON.parse(out) as DoctorReport;
    console.log(`full doctor against vchat dev: ${Math.round(wallMs)} ms wall, report says ${r.ms} ms`);
    expect(code).toBe(0);
    expect(wallMs).toBeLessThan(5000);
    for (const c of r.checks) expect(["pass", "skipped"], `${c.id}: ${c.status} ${c.verdict}`).toContain(c.status);
    for (const id of ["api-health", "api-socket", "api-ice", "dns", "stun", "turn-udp", "turn-tcp", "relay", "call", "exposure"] as const) {
      expect(check(r, id).status, `${id}: ${check(r, id).verdict}`).toBe("pass");
    }
    expect(check(r, "api-socket").details!.refusedWithoutToken).toBeTruthy();
    const ice = check(r, "api-ice").details!;
    expect(ice.credentialExpiresInSeconds).toBeGreaterThan(600);
    expect((ice.urls as string[]).some((u) => u.startsWith("turn:"))).toBe(true);
    expect(check(r, "relay").details!.received).toBe(20);
    expect(check(r, "call").details!.localCandidate).toBe("relay");
    expect(r.summary.verdict).toBe("direct-likely");
  });

  it("the live checklist renders every check and the verdict", async () => {
    const { doctorCommand } = await import("../cli/commands/doctor.ts");
    let text = "";
    const stdout = { write: (s: string) => (text += s), isTTY: false, columns: 160 };
    const report = await doctorCommand({ url: dev.url, call: false }, false, { stdout, setExitCode: () => {} });
    // Failed once in a full CI run (exit 1 after 351 ms; not reproduced alone): say which check.
    expect(report.exitCode, text).toBe(0);
    for (const c of report.checks) expect(text).toContain(c.title);
    expect(text).toMatch(/✔ API health/);
    expect(text).toMatch(/○ Relay-only call between two peers .*skipped: turned off with --no-call/);
    expect(text).toMatch(/Verdict: direct calls likely/);
  });
});

describe("vchat doctor --url when the API is down", () => {
  it("fails the API checks, summary broken, exit 1", async () => {
    const port = await freePort();
    const r = await runDoctor({ url: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
    expect(check(r, "api-health").status).toBe("fail");
    expect(check(r, "api-health").verdict).toMatch(/connection refused/);
    expect(check(r, "api-socket").status).toBe("fail");
    expect(check(r, "dns").status).toBe("skipped");
    expect(r.summary.verdict).toBe("broken");
    expect(r.exitCode).toBe(1);
  });
});
