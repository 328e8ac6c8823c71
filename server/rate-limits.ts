import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { RedisKeys } from "./cluster/keys.ts";
import type { RedisClient } from "./cluster/redis.ts";
import { VchatError } from "../protocol/index.ts";
import type { ServerConfig } from "./config.ts";

/** Failed logins are counted over this window, and a key over its limit is locked out as long. */
export const loginWindowSeconds = 15 * 60;

/**
 * Rate limits. Limits per client address or per user (sign-ups, logins, reports, blocks, call
 * stats) are shared by all nodes through Redis when there is one, as one client's requests and
 * sockets spread over nodes; their keys start with the deployment's `keyPrefix`, like every other
 * key of the service. Per-socket limits stay in process: a socket lives on one node (its event
 * budget is `signaling/budget.ts`).
 */
export function createRateLimits(tuning: ServerConfig["tuning"], redis?: { client: RedisClient; keys: RedisKeys }) {
  const shared = (name: string, points: number, duration: number, blockDuration = 0): RateLimiterAbstract =>
    redis
      ? new RateLimiterRedis({
          storeClient: redis.client,
          keyPrefix: redis.keys.rateLimit(name),
          points,
          duration,
          blockDuration,
          insuranceLimiter: new RateLimiterMemory({ points, duration, blockDuration }),
        })
      : new RateLimiterMemory({ keyPrefix: name, points, duration, blockDuration });
  return {
    signup: shared("signup", tuning.signupsPerMinute, 60),
    /** Login attempts per email and address: a point is taken before the password is checked, given back on success. */
    login: shared("login", tuning.loginFailures, loginWindowSeconds, loginWindowSeconds),
    /** Login attempts per address across emails (password spraying), counted the same way. */
    loginByAddress: shared("login-addr", tuning.loginFailuresPerAddress, loginWindowSeconds, loginWindowSeconds),
    reports: shared("reports", tuning.reportsPerMinute, 60),
    blocks: shared("blocks", tuning.blocksPerMinute, 60),
    stats: shared("stats", tuning.statsPerMinute, 60),
    chat: new RateLimiterMemory({ keyPrefix: "chat", points: tuning.chatPer10s, duration: 10 }),
  };
}

export type RateLimits = ReturnType<typeof createRateLimits>;

/** Consumes one point; throws RATE_LIMITED when the limit is reached. */
export async function consume(limiter: RateLimiterAbstract, key: string, what = "too many requests"): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (err) {
    if (err instanceof RateLimiterRes) {
      throw new VchatError("RATE_LIMITED", `${what}; retry in ${Math.ceil(err.msBeforeNext / 1000)} s`);
    }
    throw err;
  }
}
