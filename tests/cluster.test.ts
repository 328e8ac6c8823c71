import { spawnSync } from "node:child_process";
import { io as connect } from "socket.io-client";
import { send, type ReadyResponse } from "../protocol/index.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import type { LocalCluster } from "../server/dev.ts";
import { redisInstalled, startRedis, startRedisCluster, type RunningRedis } from "../server/cluster/redis-process.ts";
import { api, guest, next, request, sleep, socketFor, user, type ClientSocket } from "./support/client.ts";
import { redisKinds, testCluster } from "./support/cluster.ts";
import { signalingSuite } from "./signaling.suite.ts";

const available = redisInstalled();

const testConfig = {
  turn: { secret: "test-turn-secret-0123456789", urls: ["turn:127.0.0.1:3478?transport=udp"] },
  stunUrls: ["stun:127.0.0.1:3478"],
  // Sign-ups are limited per address across all nodes (in Redis); the suite signs up more users than a minute allows.
  tuning: { interestWaitMs: 300, signupsPerMinute: 10_000 },
};

describeIf(available, "redis-server is not installed")("cluster on real Redis", () => {
  // On a Redis Cluster a script or transaction whose keys straddle masters would fail (CROSSSLOT).
  const runs = [
    [redisKinds[0], 2],
    [redisKinds[0], 3],
    [redisKinds[1], 2],
  ] as const;
  for (const [kind, nodes] of runs) {
    signalingSuite(`${nodes} nodes on ${kind.name} (vchat serve)`, async () => {
      const redis = await kind.start();
      const cluster = await testCluster(redis.url, nodes, testConfig);
      expect(cluster.nodes.map((n) => n.redisMode)).toEqual(Array(nodes).fill(kind.mode));
      return {
        urls: cluster.urls,
        store: cluster.store,
        stop: async () => {
          await cluster.stop();
          await redis.stop();
        },
      };
    });
  }
});

describeIf(available, "redis-server is not installed")("a node on a Redis Cluster losing one master", () => {
  it("says 503 in /readyz, naming redis, each time it is asked, and refuses new matches with UNAVAILABLE", async () => {
    const redis = await startRedisCluster(3);
    const cluster = await testCluster(redis.urls[0]!, 1, testConfig);
    try {
      const url = cluster.urls[0]!;
      expect(await api<ReadyResponse>(url, "/readyz")).toMatchObject({ status: 200, body: { checks: { redis: { ok: true } } } });
      spawnSync("redis-cli", ["-p", String(redis.nodes[2]!.port), "shutdown", "nosave"], { timeout: 5000 });
      let ready = await api<ReadyResponse>(url, "/readyz");
      for (let i = 0; i < 50 && ready.status === 200; i++) ready = await sleep(100).then(() => api<ReadyResponse>(url, "/readyz"));
      expect(ready).toMatchObject({ status: 503, body: { checks: { redis: { ok: false } } } });
      const again = await Promise.all(Array.from({ length: 6 }, () => api<ReadyResponse>(url, "/readyz")));
      expect(again.map((r) => r.status)).toEqual(Array(6).fill(503));
      const u = await user(url, "on-a-broken-cluster");
      expect(await request(u.socket, "lobby:join", {})).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
      u.socket.disconnect();
    } finally {
      await cluster.stop();
      await redis.stop();
    }
  }, 30_000);
});

describeIf(available, "redis-server is not installed")("cluster on a real redis-server: shared state between nodes", () => {
  let redis: RunningRedis;
  let cluster: LocalCluster;
  const sockets: ClientSocket[] = [];
  let lastSession = "";
  /** A user whose client reconnects by itself, as browsers do. */
  const reconnecting = async (url: string, name: string) => {
    const auth = await guest(url, name);
    const socket: ClientSocket = connect(url, {
      auth: { token: auth.token },
      transports: ["websocket"],
      forceNew: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
    });
    sockets.push(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    });
    return { id: auth.user.id, socket };
  };

  beforeAll(async () => {
    redis = await startRedis();
    cluster = await testCluster(redis.url, 2, { ...testConfig, tuning: { interestWaitMs: 300, signupsPerMinute: 6 } });
  }, 60_000);
  afterAll(async () => {
    sockets.forEach((s) => s.disconnect());
    await cluster?.stop();
    await redis?.stop();
  }, 60_000);

  it("a user whose connection drops comes back with their socket (connection state recovery) and is told that the call ended", async () => {
    const [n1, n2] = cluster.urls as [string, string];
    const [x, y] = [await reconnecting(n1, "drop-x"), await reconnecting(n2, "drop-y")];
    const fx = next(x.socket, "match:found");
    await request(x.socket, "lobby:join", {});
    await request(y.socket, "lobby:join", {});
    const { sessionId } = await fx;
    const idBefore = x.socket.id;
    const peerTold = next(y.socket, "call:ended");
    const selfTold = next(x.socket, "call:ended", 8000);
    const back = new Promise<void>((resolve) => x.socket.once("connect", () => resolve()));
    // The transport closes under the client, as on a network drop; the client reconnects.
    x.socket.io.engine.close();
    expect(await peerTold).toEqual({ sessionId, reason: "disconnected" });
    await back;
    expect(x.socket.recovered).toBe(true);
    expect(x.socket.id).toBe(idBefore);
    expect(await selfTold).toEqual({ sessionId, reason: "disconnected" });
    // Out of the old call: it can signal into it no more, and may join the lobby again.
    expect(await request(x.socket, "signal", { sessionId, candidate: null })).toMatchObject({ ok: false, error: { code: "NOT_IN_SESSION" } });
    const again = next(y.socket, "match:found");
    expect(await request(x.socket, "lobby:join", {})).toMatchObject({ ok: true });
    expect(await request(y.socket, "lobby:join", {})).toMatchObject({ ok: true });
    const found = await again;
    expect(found.peer.id).toBe(x.id);
    lastSession = found.sessionId;
  });

  it("a waiting user whose connection drops is still waiting when it comes back, and gets matched", async () => {
    const [x, y] = sockets as [ClientSocket, ClientSocket];
    // x and y are in a call from the test above: x ends it and waits alone.
    const ended = next(y, "call:ended");
    expect(await request(x, "call:end", { sessionId: lastSession })).toEqual({ ok: true });
    await ended;
    expect(await request(x, "lobby:join", {})).toMatchObject({ ok: true });
    const back = new Promise<void>((resolve) => x.once("connect", () => resolve()));
    x.io.engine.close();
    await back;
    expect(x.recovered).toBe(true);
    const found = next(x, "match:found");
    expect(await request(y, "lobby:join", {})).toMatchObject({ ok: true });
    expect((await found).sessionId).toBeTruthy();
  });

  it("limits sign-ups per address across all nodes (the limit lives in Redis)", async () => {
    const [n1, n2] = cluster.urls as [string, string];
    const statuses: number[] = [];
    // 2 of the 6 per minute went to the users above.
    for (const url of [n1, n2, n1, n2, n1]) statuses.push((await api(url, "/api/auth/guest", { body: {} })).status);
    expect(statuses).toEqual([201, 201, 201, 201, 429]);
    const refused = await api<{ error: { code: string } }>(n2, "/api/auth/guest", { body: {} });
    expect(refused).toMatchObject({ status: 429, body: { error: { code: "RATE_LIMITED" } } });
  });
});

describe.skipIf(!available)("cluster on a real redis-server: abuse", () => {
  let redis: RunningRedis;
  let cluster: LocalCluster;
  beforeAll(async () => {
    redis = await startRedis();
    cluster = await testCluster(redis.url, 2, { ...testConfig, tuning: { ...testConfig.tuning, eventsPerSecond: 20, abuseSeconds: 1 } });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
  }, 60_000);

  // With connection state recovery every emit goes through the Redis stream first: a close that
  // does not wait for it overtakes the reason.
  it("a flooding socket is told why before it is closed, and its user's other socket on the other node goes on", async () => {
    const [n1, n2] = cluster.urls as [string, string];
    const flooder = await user(n1, "flood-c");
    const other = socketFor(n2, flooder.token);
    await new Promise<void>((resolve, reject) => (other.once("connect", () => resolve()), other.once("connect_error", reject)));
    const errors: { code: string; message: string }[] = [];
    flooder.socket.on("error", (e) => errors.push(e));
    let reason = "";
    const closed = new Promise<void>((resolve) => flooder.socket.once("disconnect", (r) => ((reason = r), resolve())));
    const started = Date.now();
    while (flooder.socket.connected && Date.now() - started < 4000) {
      for (let i = 0; i < 40; i++) send(flooder.socket, "chat:typing", { sessionId: "x", typing: true });
      await sleep(100);
    }
    await Promise.race([closed, sleep(500)]);
    expect(reason).toBe("io server disconnect");
    expect(errors).toContainEqual({ code: "RATE_LIMITED", message: "too many events for 1 seconds running; disconnected" });
    expect(await request(other, "lobby:leave")).toEqual({ ok: true });
    other.disconnect();
  });
});
