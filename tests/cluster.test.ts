import { describe } from "vitest";
import { startLocalCluster } from "../server/cluster/local-cluster.ts";
import { redisInstalled, startRedis } from "../server/testing/redis-server.ts";
import { signalingSuite } from "./signaling.suite.ts";

const available = redisInstalled();
if (!available) console.warn("SKIPPED: redis-server is not installed, so the cluster tests did not run");

const testConfig = {
  turn: { secret: "test-turn-secret-0123456789", urls: ["turn:127.0.0.1:3478?transport=udp"] },
  stunUrls: ["stun:127.0.0.1:3478"],
  // Sign-ups are limited per address across all nodes (in Redis); the suite signs up more users than a minute allows.
  tuning: { interestWaitMs: 300, signupsPerMinute: 10_000 },
};

describe.skipIf(!available)("cluster on a real redis-server", () => {
  for (const nodes of [2, 3]) {
    signalingSuite(`${nodes} nodes on Redis (vchat serve)`, async () => {
      const redis = await startRedis();
      const cluster = await startLocalCluster({ nodes, port: 0, db: ":memory:", redis: redis.url, turn: false, quiet: true, webDir: null, config: testConfig });
      return {
        urls: cluster.urls,
        stop: async () => {
          await cluster.stop();
          await redis.stop();
        },
      };
    });
  }
});
