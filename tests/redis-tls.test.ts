import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReadyResponse } from "../protocol/index.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/testing/redis-server.ts";
import { opensslInstalled, selfSignedCertificate, type TestCertificate } from "../server/testing/tls.ts";
import { api, next, pair, request, user, type TestUser } from "./support/client.ts";
import { serveProcess, type NodeProcess } from "./support/serve.ts";

const missing = [!redisInstalled() && "redis-server", !opensslInstalled() && "openssl"].filter(Boolean);
if (missing.length) console.warn(`SKIPPED: ${missing.join(" and ")} not installed, so vchat serve was not tried on a TLS Redis`);

/**
 * What the stacks deploy: ElastiCache with TLS in transit and an auth token, reached as
 * `rediss://:TOKEN@host:6379` from VCHAT_REDIS_URL. Here a real redis-server speaks TLS with a
 * self-signed certificate, which the nodes trust through NODE_EXTRA_CA_CERTS (Amazon's CA needs
 * nothing: Node trusts it already).
 */
describe.skipIf(missing.length > 0)("vchat serve on a Redis with TLS and an auth token", () => {
  const token = `auth-token-${randomBytes(12).toString("hex")}`;
  let cert: TestCertificate;
  let redis: RunningRedis;
  let dir: string;
  let nodes: NodeProcess[] = [];
  const users: TestUser[] = [];
  const jwt = randomBytes(32).toString("base64url");

  const node = (redisUrl: string, trust = true) =>
    serveProcess(["--db", join(dir, "vchat.db")], {
      VCHAT_JWT_SECRET: jwt,
      VCHAT_REDIS_URL: redisUrl,
      ...(trust ? { NODE_EXTRA_CA_CERTS: cert.cert } : {}),
    });
  /** How a node that cannot start ends: its exit code and what it printed. */
  const failure = (started: Promise<NodeProcess>) =>
    started.then(
      async (n) => {
        await n.stop();
        throw new Error("the node started");
      },
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );

  beforeAll(async () => {
    cert = selfSignedCertificate();
    redis = await startRedis({ password: token, tls: cert });
    dir = mkdtempSync(join(tmpdir(), "vchat-tls-nodes-"));
  }, 30_000);
  afterAll(async () => {
    users.forEach((u) => u.socket.disconnect());
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    cert?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("two nodes share it over rediss://: users on different nodes are matched and signal, and the token is never printed", async () => {
    nodes = await Promise.all([node(redis.tlsUrl!), node(redis.tlsUrl!)]);
    const [n1, n2] = nodes as [NodeProcess, NodeProcess];
    expect(n1.start).toMatchObject({ matching: "redis", redisMode: "standalone", redis: `rediss://:***@127.0.0.1:${new URL(redis.tlsUrl!).port}` });
    for (const n of nodes) {
      expect(await api<ReadyResponse>(n.url, "/readyz")).toMatchObject({ status: 200, body: { checks: { redis: { ok: true }, events: { ok: true } } } });
    }
    const [a, b] = [await user(n1.url, "tls-a"), await user(n2.url, "tls-b")];
    users.push(a, b);
    const [fa, fb] = await pair(a, b);
    expect(fa.peer.id).toBe(b.id);
    expect(fb.peer.id).toBe(a.id);
    const got = next(b.socket, "signal");
    expect(await request(a.socket, "signal", { sessionId: fa.sessionId, candidate: null })).toEqual({ ok: true });
    expect(await got).toEqual({ sessionId: fa.sessionId, candidate: null });
    expect(nodes.map((n) => JSON.stringify(n.start) + n.log()).join("")).not.toContain(token);
  }, 60_000);

  it("says why it cannot use it (certificate not trusted, wrong token, no token) and exits 1 without printing the token", async () => {
    const tlsPort = new URL(redis.tlsUrl!).port;
    const [untrusted, wrong, none] = await Promise.all([
      failure(node(redis.tlsUrl!, false)),
      failure(node(`rediss://:not-the-${token}@127.0.0.1:${tlsPort}`)),
      failure(node(`rediss://127.0.0.1:${tlsPort}`)),
    ]);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/could not connect to Redis at rediss:\/\/:\*\*\*@127\.0\.0\.1:\d+: self-signed certificate/);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/WRONGPASS/);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/NOAUTH/);
    expect(untrusted.stderr + wrong.stderr + none.stderr).not.toContain(token);
  }, 60_000);
});
