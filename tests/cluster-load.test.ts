import { afterAll, beforeAll, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import { request } from "../protocol/index.ts";
import type { LocalCluster } from "../server/dev.ts";
import type { NodeMatchmaker } from "../server/cluster/node-matchmaker.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/cluster/redis-process.ts";
import { testCluster } from "./support/cluster.ts";
import { crowd, pairingReport, until, type CrowdUser } from "./support/crowd.ts";

const available = redisInstalled();

const USERS = 1000;

describeIf(available, "redis-server is not installed")("1,000 users joining at once across 3 nodes on Redis", () => {
  let redis: RunningRedis;
  let cluster: LocalCluster;
  let users: CrowdUser[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    cluster = await testCluster(redis.url, 3, { tuning: { signupsPerMinute: 100_000, interestWaitMs: 300 } });
  }, 60_000);
  afterAll(async () => {
    for (const u of users) u.socket.disconnect();
    await cluster?.stop();
    await redis?.stop();
  }, 60_000);

  it("matches every user exactly once, never twice or with themselves, and leaves nobody waiting", async () => {
    users = await crowd(cluster.urls, USERS, { prefix: "load", concurrency: 40 });
    expect(new Set(users.map((u) => u.node)).size).toBe(3);

    const started = performance.now();
    // All at once: every join is on the wire before any answer is read.
    const acks = await Promise.all(users.map((u) => request(u.socket, "lobby:join", {}, { timeoutMs: 30_000 })));
    expect(acks.filter((a) => !a.ok)).toEqual([]);
    await until(
      () => users.every((u) => u.matches.length > 0),
      60_000,
      () => `${users.filter((u) => u.matches.length === 0).length} users still wait`,
    ).catch(async (err: Error) => {
      // Where the users who wait are, as the service sees them: the next person needs it.
      const mm = cluster.nodes[0]!.matchmaker as NodeMatchmaker;
      const where = await Promise.all(
        users
          .filter((u) => u.matches.length === 0)
          .map(async (u) => {
            const session = await mm.sessionOf(u.id);
            return {
              user: u.nickname,
              node: u.node,
              connected: u.socket.connected,
              queuedInRedis: await mm.isQueued(u.id),
              waitingOnNode: (cluster.nodes[u.node]!.matchmaker as NodeMatchmaker).queued.get(u.id) ?? null,
              session: session && { id: session.id, offerer: session.offerer, answerer: session.answerer },
            };
          }),
      );
      throw new Error(`${err.message}\n${JSON.stringify(where, null, 1)}`);
    });
    const elapsed = performance.now() - started;
    // Late duplicates would arrive after the last first match: give them time to show up.
    await new Promise((r) => setTimeout(r, 500));

    const report = pairingReport(users);
    console.log(
      `${USERS} users on 3 nodes: ${report.sessions} sessions (${report.crossNode} across nodes) in ${elapsed.toFixed(0)} ms, ` +
        `${((report.sessions / elapsed) * 1000).toFixed(0)} matches/s`,
    );
    expect(report.matchedTwice).toEqual([]);
    expect(report.unmatched).toEqual([]);
    expect(report.inconsistent).toEqual([]);
    expect(report.matchedOnce).toBe(USERS);
    expect(report.sessions).toBe(USERS / 2);
    // Nobody left in the shared queue, nor in any node's list of its waiting users.
    for (const node of cluster.nodes) {
      expect(await node.matchmaker.queueLength()).toBe(0);
      expect((node.matchmaker as NodeMatchmaker).queued.size).toBe(0);
    }
  }, 150_000);
});
