/**
 * Client addresses behind proxies, as the stacks deploy them: real haproxy hops in front of a
 * real `vchat serve`. Each haproxy appends the address it saw to X-Forwarded-For, like the ALB
 * and CloudFront do; whatever the client put there before must not pick the address that the
 * per-address limits (sign-ups, the login lock-out) count against or that the log names.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../lib/ports.ts";
import { until } from "./support/crowd.ts";
import { serveProcess, type NodeProcess } from "./support/serve.ts";

const haproxyBin = "/usr/sbin/haproxy";
const haproxyInstalled = existsSync(haproxyBin);
if (!haproxyInstalled) console.warn(`trust-proxy tests skipped: no haproxy at ${haproxyBin} (apt-get install haproxy)`);

/** POST a JSON body through the proxy from a chosen loopback source address. */
function post(port: number, path: string, body: unknown, headers: Record<string, string>, localAddress = "127.0.0.1"): Promise<{ status: number; body: any }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        localAddress,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers },
      },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: /json/.test(res.headers["content-type"] ?? "") ? JSON.parse(text) : text }));
      },
    );
    req.on("error", reject);
    req.end(data);
  });
}

function get(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path }, (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on("error", reject);
  });
}

/** A different, made-up client address each call. */
let spoofs = 0;
const spoofed = () => ({ "x-forwarded-for": `198.51.100.${++spoofs % 250}` });

/**
 * A haproxy in front of `backend` on a free port. `option forwardfor` adds the peer address as
 * the last X-Forwarded-For entry (Node joins repeated headers in order), which is what the ALB
 * and CloudFront do.
 */
async function startHaproxy(dir: string, name: string, backend: string, rules = ""): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const conf = join(dir, `${name}.cfg`);
  writeFileSync(
    conf,
    `global
  maxconn 100
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
frontend web
  bind 127.0.0.1:${port}
  option forwardfor
${rules}  default_backend vchat
backend vchat
  server node ${backend}
`,
  );
  const proc = spawn(haproxyBin, ["-db", "-f", conf], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  proc.stderr.on("data", (d) => (log += d));
  const deadline = Date.now() + 5000;
  for (;;) {
    const ok = await get(port, "/healthz").then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { port, proc };
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy ${name} did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The ALB's listener rule of stacks/service.ts (internalPaths): a case-sensitive prefix match. */
const albRules = `  http-request return status 404 content-type application/json string "{}" if { path_beg /metrics /readyz }\n`;

describe.runIf(haproxyInstalled)("vchat serve behind a real haproxy (VCHAT_TRUST_PROXY=1)", () => {
  let dir: string;
  let node: NodeProcess;
  let proxy: ChildProcess;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vchat-proxy-"));
    node = await serveProcess(["--db", join(dir, "vchat.db")], { VCHAT_JWT_SECRET: "p".repeat(40), VCHAT_TRUST_PROXY: "1" });
    ({ port, proc: proxy } = await startHaproxy(dir, "alb", new URL(node.url).host, albRules));
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

describe.runIf(haproxyInstalled)("vchat serve behind two real haproxy hops, as behind CloudFront and the ALB (VCHAT_TRUST_PROXY=2)", () => {
  let dir: string;
  let node: NodeProcess;
  let alb: ChildProcess;
  let edge: ChildProcess;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vchat-proxy2-"));
    // warn: the node logs who hit a rate limit.
    node = await serveProcess(["--db", join(dir, "vchat.db")], { VCHAT_JWT_SECRET: "p".repeat(40), VCHAT_TRUST_PROXY: "2", VCHAT_LOG_LEVEL: "warn" });
    const inner = await startHaproxy(dir, "alb", new URL(node.url).host, albRules);
    alb = inner.proc;
    // The edge connects to the ALB from 127.0.0.1; the real clients below use other addresses.
    const outer = await startHaproxy(dir, "cloudfront", `127.0.0.1:${inner.port}`);
    edge = outer.proc;
    port = outer.port;
  }, 30_000);

  afterAll(async () => {
    edge?.kill("SIGTERM");
    alb?.kill("SIGTERM");
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the sign-up limit counts the address the edge saw, not the ALB's view of the edge nor a spoofed X-Forwarded-For", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++) statuses.push((await post(port, "/api/auth/guest", {}, spoofed(), "127.0.0.5")).status);
    expect(statuses.slice(0, 30).every((s) => s === 201)).toBe(true);
    expect(statuses.slice(30)).toEqual([429, 429]);
    // Another client behind the same edge and ALB has its own budget: with one trusted hop, both
    // would have been the edge's address and this call refused too.
    expect((await post(port, "/api/auth/guest", {}, spoofed(), "127.0.0.6")).status).toBe(201);
  });

  it("the log names the real client that hit the limit", async () => {
    await until(
      () => /"msg":"rate limited"/.test(node.log()),
      5000,
      () => `no rate-limit line in the node's log:\n${node.log()}`,
    );
    const lines = node
      .log()
      .split("\n")
      .filter((l) => l.includes('"rate limited"'))
      .map((l) => JSON.parse(l) as { client: string; path: string });
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatchObject({ client: "127.0.0.5", path: "/api/auth/guest" });
  });

  it("the login lock-out follows the real client through both hops", async () => {
    const email = "victim2@example.org";
    expect((await post(port, "/api/auth/register", { email, password: "right password", nickname: "victim" }, {}, "127.0.0.7")).status).toBe(201);
    for (let i = 0; i < 5; i++) expect((await post(port, "/api/auth/login", { email, password: `guess ${i} wrong` }, spoofed(), "127.0.0.8")).status).toBe(401);
    expect(await post(port, "/api/auth/login", { email, password: "right password" }, spoofed(), "127.0.0.8")).toMatchObject({
      status: 429,
      body: { error: { code: "RATE_LIMITED" } },
    });
    // The owner, from their own address, is not locked out by someone else's guessing.
    expect((await post(port, "/api/auth/login", { email, password: "right password" }, {}, "127.0.0.7")).status).toBe(200);
  });
});
