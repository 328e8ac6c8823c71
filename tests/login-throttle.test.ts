import http from "node:http";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import type { DevServer, LocalCluster } from "../server/dev.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/cluster/redis-process.ts";
import { api } from "./support/client.ts";
import { testDev } from "./support/dev.ts";

/**
 * Login throttles under concurrency: a failure point is taken before the password is checked, so
 * a burst of attempts in flight at once can never check more passwords than the limit. Regression
 * for issue 11: 25 concurrent logins got 24 × 401 and then the right password got in.
 */

type Res = { status: number; body: { error?: { code: string; message: string } } };

/** A login sent from a chosen loopback address (127.0.0.2 is another client to the server). */
function login(url: string, email: string, password: string, from = "127.0.0.1"): Promise<Res> {
  const body = JSON.stringify({ email, password });
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/api/auth/login`,
      { method: "POST", localAddress: from, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Res["body"] }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function register(url: string, email: string, password: string) {
  const res = await api(url, "/api/auth/register", { body: { email, password, nickname: "victim" } });
  expect(res.status).toBe(201);
}

const tally = (results: Res[]) => {
  const by: Record<number, number> = {};
  for (const r of results) by[r.status] = (by[r.status] ?? 0) + 1;
  return by;
};

/** 25 wrong passwords and the right one, all in flight at once, spread over `urls`. */
async function burst(urls: string[], email: string, right: string) {
  const attempts = Array.from({ length: 25 }, (_, i) => login(urls[i % urls.length]!, email, `wrong password ${i}`));
  void attempts.splice(12, 0, login(urls[0]!, email, right));
  return Promise.all(attempts);
}

function expectHeld(results: Res[]) {
  const by = tally(results);
  // A 401 or a 200 is a password that was checked; a 429 was refused before any check.
  const checked = (by[401] ?? 0) + (by[200] ?? 0);
  expect(checked, JSON.stringify(by)).toBeLessThanOrEqual(5);
  expect(by[429], JSON.stringify(by)).toBe(results.length - checked);
  for (const r of results.filter((r) => r.status === 429)) expect(r.body.error?.code).toBe("RATE_LIMITED");
}

describe("login throttle in one process (vchat dev, memory limits)", () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await testDev({ config: { tuning: { loginFailuresPerAddress: 12 } } });
  });
  afterAll(() => dev?.stop());

  it("25 concurrent wrong logins and the right one: at most 5 passwords checked, the rest 429, and the right one 429 while locked", async () => {
    await register(dev.url, "ann@example.org", "right password");
    expectHeld(await burst([dev.url], "ann@example.org", "right password"));
    const locked = await login(dev.url, "ann@example.org", "right password");
    expect(locked.status).toBe(429);
    expect(locked.body.error?.message).toMatch(/too many failed logins; retry in \d+ s/);
    // The lock is per email and address: the same account from another address still gets in.
    expect((await login(dev.url, "ann@example.org", "right password", "127.0.0.2")).status).toBe(200);
  });

  it("a right password gives its point back: successful logins never lock an account", async () => {
    await register(dev.url, "bo@example.org", "right password");
    for (let i = 0; i < 8; i++) expect((await login(dev.url, "bo@example.org", "right password", "127.0.0.3")).status).toBe(200);
  });

  it("limits one address across emails (password spraying), and only that address", async () => {
    const from = "127.0.0.4";
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => login(dev.url, `target${i}@example.org`, "Summer2026!", from)));
    const by = tally(results);
    expect(by[401], JSON.stringify(by)).toBeLessThanOrEqual(12);
    expect(by[429], JSON.stringify(by)).toBeGreaterThanOrEqual(18);
    const next = await login(dev.url, "someone-new@example.org", "Summer2026!", from);
    expect(next).toMatchObject({ status: 429, body: { error: { code: "RATE_LIMITED" } } });
    expect(next.body.error?.message).toMatch(/from this address/);
    expect((await login(dev.url, "someone-new@example.org", "Summer2026!", "127.0.0.5")).status).toBe(401);
  });
});

describeIf(redisInstalled(), "redis-server is not installed")("login throttle across 2 nodes on a real redis-server", () => {
  let redis: RunningRedis;
  let cluster: LocalCluster;
  beforeAll(async () => {
    redis = await startRedis();
    cluster = await testDev({ nodes: 2, redis: redis.url, keyPrefix: "tenant-a" });
  });
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  it("25 concurrent wrong logins over both nodes and the right one: at most 5 checked, the right one 429 on either node", async () => {
    const [a, b] = cluster.urls as [string, string];
    await register(a, "cy@example.org", "right password");
    expectHeld(await burst([a, b], "cy@example.org", "right password"));
    expect((await login(a, "cy@example.org", "right password")).status).toBe(429);
    expect((await login(b, "cy@example.org", "right password")).status).toBe(429);
  });

  it("keeps its keys under the deployment's key prefix", async () => {
    const client = new Redis(redis.url);
    try {
      const keys = await client.keys("*rl:login*");
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) expect(key.startsWith("tenant-a:{vchat}:rl:login")).toBe(true);
    } finally {
      client.disconnect();
    }
  });
});
