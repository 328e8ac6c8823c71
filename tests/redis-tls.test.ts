import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReadyResponse } from "../protocol/index.ts";
import { redisInstalled, startRedis } from "../server/cluster/redis-process.ts";
import { opensslInstalled, selfSignedCert } from "../turn/testing/coturn.ts";
import { api, next, pair, request, user, type TestUser } from "./support/client.ts";
import { redisKinds } from "./support/cluster.ts";
import { serveProcess, type NodeProcess } from "./support/serve.ts";

const missing = [!redisInstalled() && "redis-server", !opensslInstalled() && "openssl"].filter(Boolean);
if (missing.length) console.warn(`SKIPPED: ${missing.join(" and ")} not installed, so vchat serve was not tried on a TLS Redis`);

/**
 * What the stacks deploy: ElastiCache with TLS in transit and an auth token, reached as
 * `rediss://:TOKEN@host:6379` from VCHAT_REDIS_URL. Here real redis-servers speak TLS with a
 * self-signed certificate, which the nodes trust through NODE_EXTRA_CA_CERTS (Amazon's CA needs
 * nothing: Node trusts it already).
 */
const token = `auth-token-${randomBytes(12).toString("hex")}`;
const jwt = randomBytes(32).toString("base64url");
let cert: ReturnType<typeof selfSignedCert>;
/** The certificate as redis-server takes it. */
let tls: { cert: string; key: string };
let dir: string;

beforeAll(() => {
  if (missing.length) return;
  cert = selfSignedCert(1);
  tls = { cert: cert.certFile, key: cert.keyFile };
  dir = mkdtempSync(join(tmpdir(), "vchat-tls-nodes-"));
});
afterAll(() => {
  cert?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A `vchat serve` process on this Redis URL, trusting the test certificate unless told not to. */
const node = (redisUrl: string, trust = true) =>
  serveProcess(["--db", join(dir, "vchat.db")], {
    VCHAT_JWT_SECRET: jwt,
    VCHAT_REDIS_URL: redisUrl,
    ...(trust ? { NODE_EXTRA_CA_CERTS: cert.certFile } : {}),
  });

describe.skipIf(missing.length > 0).each(redisKinds)("vchat serve on $name with TLS and an auth token", ({ mode, start }) => {
  let redis: { url: string; stop(): Promise<void> };
  let nodes: NodeProcess[] = [];
  const users: TestUser[] = [];

  beforeAll(async () => {
    redis = await start({ password: token, tls });
  }, 30_000);
  afterAll(async () => {
    users.forEach((u) => u.socket.disconnect());
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
  }, 30_000);

  it("two nodes share it over rediss://: users on different nodes are matched and signal, and the token is never printed", async () => {
    nodes = await Promise.all([node(redis.url), node(redis.url)]);
    const [n1, n2] = nodes as [NodeProcess, NodeProcess];
    expect(n1.start).toMatchObject({ matching: "redis", redisMode: mode, redis: `rediss://:***@127.0.0.1:${new URL(redis.url).port}` });
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
});

describe.skipIf(missing.length > 0)("vchat serve on a TLS Redis it cannot use", () => {
  let redis: { tlsUrl?: string; stop(): Promise<void> };
  beforeAll(async () => {
    redis = await startRedis({ password: token, tls });
  }, 30_000);
  afterAll(() => redis?.stop());

  /** How a node that cannot start ends: its exit code and what it printed. */
  const failure = (started: Promise<NodeProcess>) =>
    started.then(
      async (n) => {
        await n.stop();
        throw new Error("the node started");
      },
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );

  it("says why (certificate not trusted, wrong token, no token) and exits 1 without printing the token", async () => {
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
