/**
 * Client addresses behind a load balancer, as the stacks deploy it: a real haproxy in front of a
 * real `vchat serve` with VCHAT_TRUST_PROXY=1. haproxy appends the address it saw to
 * X-Forwarded-For, like the ALB; whatever the client put there before must not pick the address
 * that the per-address limits (sign-ups, the login lock-out) count against.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../lib/ports.ts";
import { serveProcess, type NodeProcess } from "./support/serve.ts";

const haproxyBin = "/usr/sbin/haproxy";
const haproxyInstalled = existsSync(haproxyBin);
if (!haproxyInstalled) console.warn(`trust-proxy tests skipped: no haproxy at ${haproxyBin} (apt-get install haproxy)`);

/** POST a JSON body through the proxy from a chosen loopback source address. */
function post(port: number, path: string, body: unknown, headers: Record<string, string>, localAddress = "127.0.0.1"): Promise<{ status: number; body: any }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: "POST", localAddress, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers } }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: /json/.test(res.headers["content-type"] ?? "") ? JSON.parse(text) : text }));
    });
    req.on("error", reject);
    req.end(data);
  });
}

function get(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
    }).on("error", reject);
  });
}

/** A different, made-up client address each call. */
let spoofs = 0;
const spoofed = () => ({ "x-forwarded-for": `198.51.100.${++spoofs % 250}` });

describe.runIf(haproxyInstalled)("vchat serve behind a real haproxy (VCHAT_TRUST_PROXY=1)", () => {
  let dir: string;
  let node: NodeProcess;
  let proxy: ChildProcess;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vchat-proxy-"));
    node = await serveProcess(["--db", join(dir, "vchat.db")], { VCHAT_JWT_SECRET: "p".repeat(40), VCHAT_TRUST_PROXY: "1" });
    port = await freePort();
    const backend = new URL(node.url);
    const conf = join(dir, "haproxy.cfg");
    // `option forwardfor` adds the peer address as the last X-Forwarded-For entry (Node joins
    // repeated headers in order), which is what the ALB does.
    writeFileSync(conf, `global
  maxconn 100
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend web
  bind 127.0.0.1:${port}
  option forwardfor
  # The ALB's listener rule of stacks/service.ts (internalPaths): a case-sensitive prefix match.
  http-request return status 404 content-type application/json string "{}" if { path_beg /metrics /readyz }
  default_backend vchat
backend vchat
  server node ${backend.hostname}:${backend.port}
`);
    proxy = spawn(haproxyBin, ["-db", "-f", conf], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proxy.stderr!.on("data", (d) => (log += d));
    const deadline = Date.now() + 5000;
    for (;;) {
      const ok = await post(port, "/healthz", {}, {}).then(() => true, () => false);
      if (ok) break;
      if (proxy.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 30_000);

  afterAll(async () => {
    proxy?.kill("SIGTERM");
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the sign-up limit counts the proxy's address, whatever X-Forwarded-For the client sends", async () => {
    // The default is 30 guest/register calls per minute per client address.
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++) statuses.push((await post(port, "/api/auth/guest", {}, spoofed())).status);
    expect(statuses.slice(0, 30).every((s) => s === 201)).toBe(true);
    expect(statuses.slice(30)).toEqual([429, 429]);
    // Another real client address (haproxy sees 127.0.0.2) still gets in: the limit is per address, not global.
    expect((await post(port, "/api/auth/guest", {}, spoofed(), "127.0.0.2")).status).toBe(201);
  });

  it("monitoring paths hidden by a case-sensitive proxy rule stay hidden in any letter case", async () => {
    expect((await get(port, "/healthz")).status).toBe(200);
    for (const path of ["/metrics", "/readyz", "/metrics/"]) expect((await get(port, path)).status, path).toBe(404);
    // Other spellings reach the node, which must not answer them with monitoring data (it may
    // serve the web client's index.html for an unknown path).
    for (const path of ["/METRICS", "/Metrics", "/READYZ", "/ReadyZ"]) {
      const res = await get(port, path);
      expect(res.text, path).not.toMatch(/# HELP|vchat_|"checks"/);
    }
  });

  it("the login lock-out cannot be dodged by a new X-Forwarded-For per attempt", async () => {
    const email = "victim@example.org";
    expect((await post(port, "/api/auth/register", { email, password: "right password", nickname: "victim" }, {}, "127.0.0.3")).status).toBe(201);
    // Five failures (the default) from one real address, each claiming another origin.
    for (let i = 0; i < 5; i++) expect((await post(port, "/api/auth/login", { email, password: `guess ${i} wrong` }, spoofed(), "127.0.0.4")).status).toBe(401);
    const locked = await post(port, "/api/auth/login", { email, password: "right password" }, spoofed(), "127.0.0.4");
    expect(locked).toMatchObject({ status: 429, body: { error: { code: "RATE_LIMITED" } } });
  });
});
