import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { RedisKeys } from "./cluster/keys.ts";
import type { RedisClient } from "./cluster/redis.ts";
import { VchatError } from "../protocol/index.ts";
import type { ServerConfig } from "./config.ts";

/**
 * Rate limits. Limits per client address or per user (sign-ups, login failures, reports, blocks,
 * call stats) are shared by all nodes through Redis when there is one, as one client's requests
 * and sockets spread over nodes. Per-socket limits stay in process: a socket lives on one node
 * (its event budget is `signaling/budget.ts`).
 */
export function createRateLimits(tuning: ServerConfig["tuning"], redis?: { client: RedisClient; keys: RedisKeys }) {
  const shared = (keyPrefix: string, points: number, duration: number, blockDuration = 0): RateLimiterAbstract =>
    redis
      ? new RateLimiterRedis({ storeClient: redis.client, keyPrefix: redis.keys.rateLimit(keyPrefix), points, duration, blockDuration, insuranceLimiter: new RateLimiterMemory({ points, duration }) })
      : new RateLimiterMemory({ keyPrefix, points, duration, blockDuration });
  return {
    signup: shared("signup", tuning.signupsPerMinute, 60),
    loginFailures: shared("login", tuning.loginFailures, 15 * 60, 15 * 60),
    reports: shared("reports", tuning.reportsPerMinute, 60),
    blocks: shared("blocks", tuning.blocksPerMinute, 60),
    stats: shared("stats", tuning.statsPerMinute, 60),
    chat: new RateLimiterMemory({ keyPrefix: "chat", points: tuning.chatPer10s, duration: 10 }),
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;

/** Consumes one point; throws RATE_LIMITED when the limit is reached. */
export async function consume(limiter: RateLimiterAbstract, key: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (err) {
    if (err instanceof RateLimiterRes) {
      throw new VchatError("RATE_LIMITED", `too many requests; retry in ${Math.ceil(err.msBeforeNext / 1000)} s`);
    }
    throw err;
  }
}
