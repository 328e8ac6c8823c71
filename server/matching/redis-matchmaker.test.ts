import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../lib/ports.ts";
import {
  redisInstalled,
  startRedis,
  startRedisCluster,
  type RunningRedis,
  type RunningRedisCluster,
} from "../cluster/redis-process.ts";
import { matchmakerContract, user } from "./matchmaker.contract.ts";
import type { LiveSession } from "./matchmaker.ts";
import { createRedisMatchmaker } from "./redis-matchmaker.ts";

const available = redisInstalled();
if (!available) console.warn("SKIPPED: redis-server is not installed, so the Redis matchmaker tests did not run");

describe.skipIf(!available)("Redis matchmaker on a real redis-server", () => {
  let server: RunningRedis;
  let client: Redis;
  const extra: Redis[] = [];
  let n = 0;
  /** Each matchmaker gets a key prefix of its own: tests share one server without seeing each other. */
  const prefix = () => `t${process.pid}-${++n}`;

  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url, { lazyConnect: true });
    await client.connect();
  });
  afterAll(async () => {
    for (const c of [client, ...extra]) c?.disconnect();
    await server?.stop();
  });

  matchmakerContract("redis", async (opts) => createRedisMatchmaker(client, { ...opts, keyPrefix: prefix() }));

  it("pairs 1,000 users joining at once from 4 clients exactly once each", async () => {
    const keyPrefix = prefix();
    const clients = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const c = new Redis(server.url, { lazyConnect: true });
        await c.connect();
        extra.push(c);
        return c;
      }),
    );
    const nodes = clients.map((c) => createRedisMatchmaker(c, { keyPrefix }));
    const ids = Array.from({ length: 1000 }, (_, i) => `load-${i}`);
    const started = performance.now();
    const results = await Promise.all(ids.map((id, i) => nodes[i % nodes.length]!.join(user(id))));
    const elapsed = performance.now() - started;
    const sessions = results.filter((s): s is LiveSession => s !== null);
    console.log(`1000 concurrent joins over 4 clients: ${sessions.length} matches in ${elapsed.toFixed(0)} ms`);

    const count = new Map<string, number>();
    for (const s of sessions) {
      expect(s.offerer.userId).not.toBe(s.answerer.userId);
      for (const p of [s.offerer.userId, s.answerer.userId]) count.set(p, (count.get(p) ?? 0) + 1);
    }
    expect(sessions).toHaveLength(500);
    expect(count.size).toBe(1000);
    expect([...count.values()].every((c) => c === 1)).toBe(true);
    expect(await nodes[0]!.queueLength()).toBe(0);
    // Counted from the other side too: Redis knows each user's session, and it is the one join returned.
    const byId = new Map(sessions.map((s) => [s.id, s]));
    const seen = await Promise.all(ids.map((id) => nodes[1]!.sessionOf(id)));
    seen.forEach((s, i) => {
      expect(s).not.toBeNull();
      expect(byId.get(s!.id)).toEqual(s);
      expect([s!.offerer.userId, s!.answerer.userId]).toContain(ids[i]);
    });
    expect((await nodes[2]!.liveSessions()).length).toBe(500);
  });

  it("keeps every key in the {vchat} hash slot and session state under a TTL", async () => {
    const mm = createRedisMatchmaker(client, { keyPrefix: prefix(), sessionTtlMs: 60_000 });
    await mm.join(user("a", { interests: ["music", "go"] }));
    const s = (await mm.join(user("b", { interests: ["go"] })))!;
    await mm.join(user("c", { interests: ["tea"], avoid: ["d"] }));
    await mm.endSession((await mm.join(user("x")))?.id ?? "none");
    const keys = await client.keys(`${mm.keys.prefix}*`);
    expect(keys.length).toBeGreaterThan(4);
    for (const k of keys) expect(k).toContain("{vchat}");
    const ttl = await client.pttl(`${mm.keys.prefix}s:${s.id}`);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    expect(await client.pttl(`${mm.keys.prefix}us:a`)).toBeGreaterThan(50_000);
  });

  it("tells which touched users are lost to it: neither queued nor in a call", async () => {
    const mm = createRedisMatchmaker(client, { keyPrefix: prefix() });
    await mm.join(user("a", { avoid: ["waits"] }));
    await mm.join(user("waits"));
    await mm.join(user("b"));
    // a and b are in a call, waits is queued, gone was never here.
    expect(await mm.touch(["a", "waits", "b", "gone"])).toEqual(["gone"]);
    await mm.leave("waits");
    expect(await mm.touch(["a", "waits"])).toEqual(["waits"]);
  });

  it("drops waiters not seen for queueTtlMs (a crashed node's users) unless touched", async () => {
    const mm = createRedisMatchmaker(client, { keyPrefix: prefix(), queueTtlMs: 60_000 });
    const t = 1_700_000_000_000;
    await mm.join(user("ghost", { avoid: ["kept"] }), t);
    await mm.join(user("kept"), t + 1);
    expect(await mm.touch(["kept", "nobody"], t + 50_000)).toEqual(["nobody"]);
    expect(await mm.sweep(t + 60_001)).toEqual([]);
    expect(await mm.isQueued("ghost")).toBe(false);
    expect(await mm.isQueued("kept")).toBe(true);
    expect(await mm.isQueued("nobody")).toBe(false);
    expect(await mm.queueLength()).toBe(1);
    // The ghost's queue entry is gone for good: a newcomer gets the live waiter.
    const s = await mm.join(user("new"), t + 60_002);
    expect(s?.offerer.userId).toBe("kept");
  });

  it("reports Redis being down as UNAVAILABLE and works again after a restart", async () => {
    const c = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    await c.connect();
    extra.push(c);
    const mm = createRedisMatchmaker(c, { keyPrefix: prefix() });
    await mm.join(user("before"));
    await server.restart();
    // Nothing persisted: the restarted server is empty and has no scripts cached (ioredis re-sends them).
    await expect.poll(async () => mm.queueLength().catch(() => -1), { timeout: 5000, interval: 100 }).toBe(0);
    await mm.join(user("p"));
    expect(pairIds(await mm.join(user("q")))).toEqual(["p", "q"]);

    // A Redis that is not there at all: nothing listens on the port.
    const dead = new Redis({ port: await freePort(), host: "127.0.0.1", maxRetriesPerRequest: 0, retryStrategy: () => null });
    dead.on("error", () => {});
    extra.push(dead);
    await expect(createRedisMatchmaker(dead).join(user("z"))).rejects.toMatchObject({ code: "UNAVAILABLE" });
  });
});

function pairIds(s: LiveSession | null): string[] | null {
  return s ? [s.offerer.userId, s.answerer.userId].sort() : null;
}

describe.skipIf(!available)("Redis matchmaker on a real 3-master Redis Cluster", () => {
  let cluster: RunningRedisCluster;
  let client: Cluster;
  let n = 0;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    client = new Cluster(cluster.nodes, { lazyConnect: true });
    await client.connect();
  });
  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  // Every key the scripts touch must hash to the {vchat} slot; one that does not lives on another
  // master, and Redis refuses the script there.
  matchmakerContract("redis cluster", async (opts) => createRedisMatchmaker(client, { ...opts, keyPrefix: `c${++n}` }));

  it("keeps all of its keys on the one master that serves {vchat}", async () => {
    const mm = createRedisMatchmaker(client, { keyPrefix: `c${++n}` });
    await mm.join(user("a", { interests: ["music", "go", "tea"] }));
    await mm.join(user("b", { interests: ["chess"] }));
    await mm.join(user("c"));
    const s = (await mm.join(user("d")))!;
    await mm.endSession(s.id, { keepApart: true });
    const slot = Number(await client.cluster("KEYSLOT", mm.keys.queue));
    let found = 0;
    for (const node of client.nodes("master")) {
      const keys = await node.keys(`${mm.keys.prefix}*`);
      for (const k of keys) expect(Number(await client.cluster("KEYSLOT", k))).toBe(slot);
      found += keys.length;
    }
    expect(found).toBeGreaterThanOrEqual(6); // q, e, seen, plain/int, buckets, apart, ...
  });
});
