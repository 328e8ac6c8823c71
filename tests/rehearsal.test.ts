/**
 * The production shape on one machine: a real haproxy in front with CloudFront's path routing
 * (`protocol/routes.ts`), round robin and no stickiness, two `vchat serve` nodes on a real Redis,
 * and the web client served as the bucket serves it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../lib/ports.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/cluster/redis-process.ts";
import { haproxyConfig, startBucket, type Bucket } from "../server/rehearsal.ts";
import { buildWebOnce, removeBuild } from "./support/browser.ts";
import { next, pair, request, user, type TestUser } from "./support/client.ts";
import { serveProcess, type NodeProcess } from "./support/serve.ts";

const haproxyBin = "/usr/sbin/haproxy";
const missing = [!existsSync(haproxyBin) && "haproxy (/usr/sbin/haproxy)", !redisInstalled() && "redis-server"].filter(Boolean);
if (missing.length) console.warn(`[skipped] production-shaped rehearsal: ${missing.join(" and ")} not installed`);

describe.skipIf(missing.length > 0)("rehearsal: haproxy routing as CloudFront, two nodes on Redis, the bucket", () => {
  let dir: string;
  let webDir: string | undefined;
  let redis: RunningRedis;
  let nodes: NodeProcess[] = [];
  let bucket: Bucket;
  let proxy: ChildProcess;
  let url: string;
  const users: TestUser[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vchat-rehearsal-"));
    webDir = await buildWebOnce();
    redis = await startRedis();
    const env = { VCHAT_JWT_SECRET: "r".repeat(40), VCHAT_REDIS_URL: redis.url, VCHAT_TRUST_PROXY: "1" };
    nodes = await Promise.all([1, 2].map(() => serveProcess(["--db", join(dir, "vchat.db")], env)));
    bucket = await startBucket(webDir);
    const port = await freePort();
    const conf = join(dir, "haproxy.cfg");
    writeFileSync(conf, haproxyConfig({ bind: { host: "127.0.0.1", port }, nodes: nodes.map((n) => new URL(n.url).host), bucket: bucket.address }));
    proxy = spawn(haproxyBin, ["-db", "-f", conf], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proxy.stderr!.on("data", (d) => (log += d));
    url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 10_000;
    // Up once both nodes passed haproxy's health check.
    for (const seen = new Set<string>(); seen.size < 2; ) {
      const res = await fetch(`${url}/healthz`).catch(() => null);
      const by = res?.headers.get("x-served-by");
      if (res?.ok && by) seen.add(by);
      if (proxy.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not route to both nodes: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);

  afterAll(async () => {
    users.forEach((u) => u.socket.disconnect());
    proxy?.kill("SIGTERM");
    await Promise.all(nodes.map((n) => n.stop()));
    await bucket?.stop();
    await redis?.stop();
    removeBuild(webDir);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("serves the web client from the bucket: index.html not cached, hashed bundles immutable, client routes fall back", async () => {
    const home = await fetch(`${url}/`);
    expect(home.headers.get("x-served-by")).toBe("bucket");
    expect(home.headers.get("cache-control")).toBe("no-cache");
    expect(await home.text()).toContain('<div id="root">');

    const js = readdirSync(join(webDir!, "assets")).find((f) => f.endsWith(".js"))!;
    const bundle = await fetch(`${url}/assets/${js}`);
    expect(bundle.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(bundle.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");

    const route = await fetch(`${url}/some/client/route`);
    expect(route.status).toBe(200);
    expect(await route.text()).toContain('<div id="root">');
  });

  it("sends /api/* and /healthz to the nodes in turn, never the SPA fallback; /readyz and /metrics never reach a node", async () => {
    const unknown = await fetch(`${url}/api/no-such-thing`);
    expect(unknown.headers.get("x-served-by")).toMatch(/^node/);
    expect(unknown.headers.get("content-type")).toMatch(/json/);

    const servedBy: string[] = [];
    for (let i = 0; i < 4; i++) servedBy.push((await fetch(`${url}/healthz`)).headers.get("x-served-by") ?? "");
    expect(new Set(servedBy)).toEqual(new Set(["node1", "node2"]));
    expect(servedBy[0]).not.toBe(servedBy[1]);

    for (const path of ["/readyz", "/metrics"]) {
      const res = await fetch(url + path);
      expect(res.headers.get("x-served-by"), path).toBe("bucket");
      expect(await res.text(), path).not.toMatch(/# HELP|vchat_|"checks"/);
    }
  });

  it("matches two users over WebSockets through the proxy and relays their chat, whichever node each landed on", async () => {
    const [a, b] = [await user(url, "Ana"), await user(url, "Ben")];
    users.push(a, b);
    const [ma] = await pair(a, b);
    const got = next(b.socket, "chat:message");
    expect(await request(a.socket, "chat:send", { sessionId: ma.sessionId, text: "hello through haproxy" })).toMatchObject({ ok: true });
    expect(await got).toMatchObject({ text: "hello through haproxy" });
  });
});
