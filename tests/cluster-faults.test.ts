import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import type { MatchFound, ReadyResponse } from "../protocol/index.ts";
import type { LocalCluster } from "../server/dev.ts";
import type { NodeMatchmaker } from "../server/cluster/node-matchmaker.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/cluster/redis-process.ts";
import { freePort } from "../lib/ports.ts";
import { api, next, pair, record, request, sleep, user, type TestUser } from "./support/client.ts";
import { testCluster } from "./support/cluster.ts";
import { crowd, pairingReport, pool, until, type CrowdUser } from "./support/crowd.ts";

const available = redisInstalled();

const tuning = { signupsPerMinute: 100_000, interestWaitMs: 300 };
/**
 * Presence four times faster than production's (1 s beats, dead after 3 s), so that outages
 * longer than `deadAfterMs` take 1.5 s, not 4; still slow enough for a loaded machine.
 */
const presence = { heartbeatMs: 250, deadAfterMs: 1000, reapIntervalMs: 125 };
/** Longer than a node may stay silent before the others take it for dead. */
const outageMs = presence.deadAfterMs + 500;

/**
 * A redis-server on a given port: empty (what a crashed and replaced Redis looks like), or with an
 * append-only file in `dir`, so that stopping and starting it again keeps its data.
 */
async function redisOn(port: number, persistDir?: string): Promise<{ stop(): Promise<void> }> {
  const dir = persistDir ?? mkdtempSync(join(tmpdir(), "vchat-redis-again-"));
  const persistence = persistDir ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"];
  const proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", ...persistence, "--dir", dir], { stdio: "ignore" });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const deadline = Date.now() + 10_000;
  while (!(await ping(port))) {
    if (Date.now() > deadline || proc.exitCode !== null) {
      proc.kill("SIGKILL");
      throw new Error(`redis-server did not come up on ${port}`);
    }
    await sleep(30);
  }
  return {
    async stop() {
      proc.kill("SIGTERM");
      await exited;
      if (!persistDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    const done = (ok: boolean) => (sock.destroy(), resolve(ok));
    sock.setTimeout(500, () => done(false));
    sock.once("connect", () => sock.write("PING\r\n"));
    sock.once("data", (d) => done(d.toString().startsWith("+PONG")));
    sock.once("error", () => done(false));
  });
}

async function ready(url: string) {
  return api<ReadyResponse>(url, "/readyz");
}

/** a signals b in their session and b receives it within ms. */
async function signals(a: TestUser, b: TestUser, sessionId: string, ms = 3000): Promise<void> {
  const got = next(b.socket, "signal", ms);
  const candidate = { candidate: `candidate:${randomBytes(3).toString("hex")} 1 udp 1 127.0.0.1 5000 typ host`, sdpMid: "0", sdpMLineIndex: 0 };
  expect(await request(a.socket, "signal", { sessionId, candidate })).toEqual({ ok: true });
  expect((await got).candidate).toEqual(candidate);
}

describeIf(available, "redis-server is not installed")("cluster faults: Redis down and back, a waiting user lost to the queue", () => {
  let redis: RunningRedis;
  let again: { stop(): Promise<void> } | null = null;
  let cluster: LocalCluster;
  const users: TestUser[] = [];
  /** Every match:found each user was told of. */
  const seen = new Map<string, MatchFound[]>();
  const newUser = async (node: number, name: string) => {
    const u = await user(cluster.urls[node]!, name);
    users.push(u);
    seen.set(u.nickname, record(u.socket, "match:found"));
    return u;
  };

  beforeAll(async () => {
    redis = await startRedis();
    cluster = await testCluster(redis.url, 2, { tuning: { ...tuning, presence } });
  }, 60_000);
  afterAll(async () => {
    users.forEach((u) => u.socket.disconnect());
    await cluster?.stop();
    await again?.stop();
    await redis?.stop();
  }, 60_000);

  it("refuses new matches while Redis is down, keeps calls going, and recovers by itself", async () => {
    const [n1, n2] = cluster.urls as [string, string];
    // A call across nodes, a call within node 1, and one user waiting on node 2.
    const [x1, y1] = [await newUser(0, "x1"), await newUser(1, "y1")];
    const [fx1] = await pair(x1, y1);
    const [x2, y2] = [await newUser(0, "x2"), await newUser(0, "y2")];
    const [fx2] = await pair(x2, y2);
    const w = await newUser(1, "w");
    expect(await request(w.socket, "lobby:join", {})).toEqual({ ok: true, waitingSince: expect.any(String) });
    expect((await ready(n1)).status).toBe(200);

    await redis.stop();
    await until(
      () => cluster.nodes.every((n) => !n.canMatch()),
      5000,
      () => "nodes still match with Redis down",
    );
    const down = await ready(n1);
    expect(down.status).toBe(503);
    expect(down.body.checks.redis?.ok).toBe(false);
    expect(down.body.checks.store?.ok).toBe(true);
    const z = await newUser(0, "z");
    expect(await request(z.socket, "lobby:join", {})).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    // Within a node, signaling and chat go on without Redis.
    await signals(x2, y2, fx2.sessionId, 4000);
    const chat = next(x2.socket, "chat:message", 4000);
    expect(await request(y2.socket, "chat:send", { sessionId: fx2.sessionId, text: "still here" })).toMatchObject({ ok: true });
    expect((await chat).text).toBe("still here");

    // Longer than a node may stay silent: when Redis is back every heartbeat is old, and still
    // no node may take the others for dead and end their calls.
    await sleep(outageMs);

    // Redis comes back empty, as a replaced server would.
    again = await redisOn(redis.port);
    await until(
      () => cluster.nodes.every((n) => n.canMatch()),
      5000,
      () => "nodes did not reconnect",
    );
    for (const url of [n1, n2]) {
      let res = await ready(url);
      for (let i = 0; i < 50 && res.status !== 200; i++) res = await sleep(100).then(() => ready(url));
      expect(res.body).toMatchObject({ ready: true, checks: { redis: { ok: true }, events: { ok: true }, store: { ok: true } } });
    }
    // The user who waited through the outage is queued again by their node (Redis lost the queue).
    await until(
      async () => (await cluster.nodes[0]!.matchmaker.queueLength()) === 1,
      5000,
      () => "w was not queued again after Redis came back",
    );
    const v = await newUser(0, "v");
    const [fv, fw] = await Promise.all([next(v.socket, "match:found"), next(w.socket, "match:found"), request(v.socket, "lobby:join", {})]);
    expect(fv.peer.id).toBe(w.id);
    expect(fw.peer.id).toBe(v.id);
    // w kept their place: the wait counts from before the outage, not from the re-queue.
    const live = await cluster.nodes[0]!.matchmaker.getSession(fv.sessionId);
    expect(live?.offerer.userId).toBe(w.id);
    expect(live?.waitedMs.offerer).toBeGreaterThan(outageMs);

    // The calls of before the outage still signal, across nodes too, and end properly.
    await signals(x1, y1, fx1.sessionId);
    await signals(y1, x1, fx1.sessionId);
    const ended = next(y1.socket, "call:ended");
    expect(await request(x1.socket, "call:end", { sessionId: fx1.sessionId })).toEqual({ ok: true });
    expect(await ended).toEqual({ sessionId: fx1.sessionId, reason: "ended" });
    const nextEnded = next(y2.socket, "call:ended");
    expect(await request(x2.socket, "call:next", { sessionId: fx2.sessionId })).toMatchObject({ ok: true });
    expect(await nextEnded).toEqual({ sessionId: fx2.sessionId, reason: "next" });
    // Both ends are free again: y1 joins and is matched with x2, who waits after call:next.
    const [fy1, fx2b] = await Promise.all([next(y1.socket, "match:found"), next(x2.socket, "match:found"), request(y1.socket, "lobby:join", {})]);
    expect(fy1.peer.id).toBe(x2.id);
    expect(fx2b.peer.id).toBe(y1.id);

    // Nobody was told of a match more often than they joined and were matched.
    await sleep(300);
    const counts = Object.fromEntries([...seen].map(([name, list]) => [name, list.length]));
    expect(counts).toEqual({ x1: 1, y1: 2, x2: 2, y2: 1, w: 1, z: 0, v: 1 });
  }, 60_000);

  it("a waiting user taken out of the queue while their node lives is queued again at their place within a few heartbeats", async () => {
    const w = await newUser(0, "lost-w");
    const since = Date.now();
    expect(await request(w.socket, "lobby:join", {})).toMatchObject({ ok: true });
    const mm = cluster.nodes[1]!.matchmaker;
    // Another node takes w out of the queue, as a reaper does with a node it took for dead while
    // it was only slow (the node's own list of its waiting users still has w).
    expect(await mm.leave(w.id)).toBe(true);
    expect(await mm.isQueued(w.id)).toBe(false);
    await until(
      () => mm.isQueued(w.id),
      5000,
      () => "w was not queued again",
    );
    const v = await newUser(1, "lost-v");
    const [fv, fw] = await Promise.all([next(v.socket, "match:found"), next(w.socket, "match:found"), request(v.socket, "lobby:join", {})]);
    expect(fv.peer.id).toBe(w.id);
    expect(fw.peer.id).toBe(v.id);
    // The wait counts from the first join: w kept its place.
    const waited = (await mm.getSession(fv.sessionId))?.waitedMs.offerer ?? 0;
    expect(waited).toBeGreaterThanOrEqual(Date.now() - since - 300);
  }, 30_000);
});

describeIf(available, "redis-server is not installed")("cluster faults: Redis restarted in the middle of a run", () => {
  let redis: RunningRedis;
  let cluster: LocalCluster;
  let users: CrowdUser[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    // Half of the users name an interest nobody shares: they wait a second for a match, so many
    // are in the queue when Redis loses it.
    cluster = await testCluster(redis.url, 2, { tuning: { ...tuning, interestWaitMs: 1000, presence } });
  }, 60_000);
  afterAll(async () => {
    users.forEach((u) => u.socket.disconnect());
    await cluster?.stop();
    await redis?.stop();
  }, 60_000);

  it("matches everyone exactly once, including those who waited through it, and leaves nobody in the queue", async () => {
    const N = 300;
    users = await crowd(cluster.urls, N, { prefix: "rs", concurrency: 30 });
    let refused = 0;
    /** Joins like a client app: UNAVAILABLE means try again shortly. */
    const joinUntilOk = async (u: CrowdUser, prefs: object) => {
      for (let attempt = 0; attempt < 100; attempt++) {
        const ack = await request(u.socket, "lobby:join", prefs);
        if (ack.ok) return;
        if (ack.error.code !== "UNAVAILABLE") throw new Error(`${u.nickname}: ${ack.error.code}`);
        refused++;
        await sleep(100 + Math.random() * 100);
      }
      throw new Error(`${u.nickname} was refused 100 times`);
    };
    // Joins spread over ~1.5 s; Redis is restarted (empty) a third of the way in.
    const joins = pool(users, N, async (u, i) => {
      await sleep(Math.floor(i / 20) * 100);
      await joinUntilOk(u, i % 2 === 0 ? { interests: [`solo${i}`] } : {});
    });
    await sleep(500);
    const waiting = await cluster.nodes[0]!.matchmaker.queueLength();
    await redis.restart();
    await joins;
    await until(
      () => users.every((u) => u.matches.length > 0),
      15_000,
      () => `${users.filter((u) => u.matches.length === 0).length} users still wait`,
    );
    await sleep(1500);
    const report = pairingReport(users);
    console.log(
      `Redis restarted mid-run with ${waiting} users waiting: ${report.sessions} sessions for ${N} users, ${refused} joins refused with UNAVAILABLE and retried`,
    );
    expect(waiting).toBeGreaterThan(10);
    expect(report.matchedTwice).toEqual([]);
    expect(report.inconsistent).toEqual([]);
    expect(report.unmatched).toEqual([]);
    expect(report.sessions).toBe(N / 2);
    for (const node of cluster.nodes) {
      expect(await node.matchmaker.queueLength()).toBe(0);
      expect((node.matchmaker as NodeMatchmaker).queued.size).toBe(0);
    }
  }, 90_000);
});

describeIf(available, "redis-server is not installed")("cluster faults: Redis back with its data after a long outage", () => {
  let dir: string;
  let port: number;
  let redis: { stop(): Promise<void> } | null = null;
  let cluster: LocalCluster;
  const users: TestUser[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vchat-redis-aof-"));
    port = await freePort();
    redis = await redisOn(port, dir);
    cluster = await testCluster(`redis://127.0.0.1:${port}`, 2, { tuning: { ...tuning, presence } });
  }, 60_000);
  afterAll(async () => {
    users.forEach((u) => u.socket.disconnect());
    await cluster?.stop();
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("takes no node for dead because every heartbeat is old, and keeps calls and the queue", async () => {
    const newUser = async (node: number, name: string) => {
      const u = await user(cluster.urls[node]!, name);
      users.push(u);
      return u;
    };
    const [x, y] = [await newUser(0, "x"), await newUser(1, "y")];
    const [fx] = await pair(x, y);
    const ended = [record(x.socket, "call:ended"), record(y.socket, "call:ended")];
    const w = await newUser(1, "w");
    expect(await request(w.socket, "lobby:join", {})).toMatchObject({ ok: true });

    await redis!.stop();
    redis = null;
    await sleep(outageMs);
    redis = await redisOn(port, dir);
    await until(
      () => cluster.nodes.every((n) => n.canMatch()),
      5000,
      () => "nodes did not reconnect",
    );
    // Long enough for any node to have judged the others.
    await sleep(outageMs);
    expect(ended.map((e) => e.length)).toEqual([0, 0]);
    await signals(x, y, fx.sessionId);
    expect((await cluster.nodes[0]!.presence!.liveNodes()).sort()).toEqual(cluster.nodes.map((n) => n.nodeId).sort());
    // The waiting user kept their place.
    const v = await newUser(0, "v");
    const [fv] = await Promise.all([next(v.socket, "match:found"), request(v.socket, "lobby:join", {})]);
    expect(fv.peer.id).toBe(w.id);
  }, 60_000);
});

describeIf(available, "redis-server is not installed")("cluster faults: a call whose state Redis lost", () => {
  let redis: RunningRedis;
  let cluster: LocalCluster;
  const users: TestUser[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    cluster = await testCluster(redis.url, 2, { tuning: { ...tuning, presence } });
  }, 60_000);
  afterAll(async () => {
    users.forEach((u) => u.socket.disconnect());
    await cluster?.stop();
    await redis?.stop();
  }, 60_000);

  // The call ends through its room (no live state); its peer, on the other node, was once told
  // before the adapter took it out of the room and was refused ALREADY_IN_CALL (2 in 20 here).
  it("ends it through its room for the peer on the other node, who can join the lobby the moment it is told", async () => {
    for (let round = 0; round < 20; round++) {
      const x = await user(cluster.urls[0]!, `lost${round}-x`);
      const y = await user(cluster.urls[1]!, `lost${round}-y`);
      users.push(x, y);
      const [fx] = await pair(x, y);
      // What a replaced Redis leaves: the call goes on through its room, the matchmaker knows nothing of it.
      expect(await cluster.nodes[0]!.matchmaker.endSession(fx.sessionId)).not.toBeNull();
      const joined = new Promise((resolve) => y.socket.once("call:ended", (e) => resolve(request(y.socket, "lobby:join", {}).then((ack) => ({ e, ack })))));
      expect(await request(x.socket, "call:end", { sessionId: fx.sessionId })).toEqual({ ok: true });
      expect({ round, ...((await joined) as object) }).toEqual({
        round,
        e: { sessionId: fx.sessionId, reason: "ended" },
        ack: { ok: true, waitingSince: expect.any(String) },
      });
      x.socket.disconnect();
      y.socket.disconnect();
    }
  }, 60_000);
});
