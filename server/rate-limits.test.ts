import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisKeys } from "./cluster/keys.ts";
import { defaultTuning } from "./config.ts";
import { consume, createRateLimits } from "./rate-limits.ts";
import { redisInstalled, startRedis, type RunningRedis } from "./cluster/redis-process.ts";

const available = redisInstalled();
if (!available) console.warn("SKIPPED: redis-server is not installed, so the shared rate limit tests did not run");

describe.skipIf(!available)("rate limits shared through Redis", () => {
  let server: RunningRedis;
  let client: Redis;
  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url);
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it("are kept under the service's key prefix: two services on one Redis do not share buckets", async () => {
    const tuning = { ...defaultTuning, signupsPerMinute: 2 };
    const blue = createRateLimits(tuning, { client, keys: redisKeys("blue") });
    const green = createRateLimits(tuning, { client, keys: redisKeys("green") });
    await consume(blue.signup, "127.0.0.1");
    await consume(blue.signup, "127.0.0.1");
    await expect(consume(blue.signup, "127.0.0.1")).rejects.toMatchObject({ code: "RATE_LIMITED" });
    await expect(consume(green.signup, "127.0.0.1")).resolves.toBeUndefined();
    const keys = await client.keys("*rl*");
    expect(keys.sort()).toEqual(["blue:{vchat}:rl:signup:127.0.0.1", "green:{vchat}:rl:signup:127.0.0.1"]);
  });
});
