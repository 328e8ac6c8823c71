/**
 * Every Redis key of one vchat service, from its prefix (`keyPrefix`, `VCHAT_REDIS_PREFIX`):
 * two services on one Redis with different prefixes share nothing. Keys that a script or a
 * transaction touches together carry the hash tag `{vchat}`, so a Redis Cluster keeps them in
 * one slot.
 *
 * @example
 * const keys = redisKeys("vchat");
 * keys.nodes // "vchat:{vchat}:nodes"
 */
export function redisKeys(prefix: string) {
  const tagged = `${prefix}:{vchat}:`;
  return {
    prefix,
    /** The matchmaker's keys start here; its scripts derive the others (`q`, `e`, `s:<id>`, ...). */
    matchmaker: tagged,
    /** Presence: nodeId → last heartbeat. */
    nodes: `${tagged}nodes`,
    /** Presence: one node's sockets (socketId → userId). */
    registry: (nodeId: string) => `${tagged}n:${nodeId}`,
    /** REST rate limits shared by the nodes (`rate-limiter-flexible` adds `:<client>`). */
    rateLimit: (name: string) => `${tagged}rl:${name}`,
    /** Read by `/readyz` on a Redis Cluster: answered only when the slot of `{vchat}` is served. */
    probe: `${tagged}ready`,
    /** The Socket.IO Redis streams adapter's stream, channels and recovered sessions. */
    adapter: {
      streamName: `${tagged}sio`,
      channelPrefix: `${prefix}:sio`,
      sessionKeyPrefix: `${prefix}:sio:session:`,
    },
  } as const;
}

export type RedisKeys = ReturnType<typeof redisKeys>;
