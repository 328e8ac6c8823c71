import type { RedisClient } from "./redis.ts";
import type { EndReason } from "../../protocol/index.ts";
import type { Tuning } from "../config.ts";
import type { Logger } from "../log.ts";
import type { LiveSession } from "../matching/matchmaker.ts";
import type { VchatServer } from "../signaling/types.ts";
import type { Keeper } from "./keeper.ts";
import type { NodeMatchmaker } from "./node-matchmaker.ts";

/** Heartbeat, death and reaping periods: `config.tuning.presence`. */
export type PresenceOptions = Tuning["presence"];

/** What presence needs of the call use cases. */
export interface PresenceCalls {
  endCall(sessionId: string, reason: EndReason): Promise<boolean>;
}

export interface PresenceDeps {
  redis: RedisClient;
  io: VchatServer;
  matchmaker: NodeMatchmaker;
  calls: PresenceCalls;
  /** Told on every heartbeat, to give Redis back what it lost of this node's waiting users. */
  keeper: Keeper;
  nodeId: string;
  logger: Logger;
  options: PresenceOptions;
}

export interface Presence {
  /** Registers the node and starts its heartbeat and the watch for dead nodes. */
  start(): void;
  /** Ids of the nodes that are alive now (by their heartbeats). */
  liveNodes(): Promise<string[]>;
  /**
   * Ends, with `server-restart`, the live sessions none of whose sockets is on a live node: the
   * calls of nodes that died together and stayed down until their socket lists expired, so no
   * reap could end them. Resolves to how many it ended.
   */
  endOrphanedCalls(): Promise<number>;
  /** Leaves the cluster on purpose: the others will not reap this node. */
  stop(): Promise<void>;
}

/*
 * Keys (`redisKeys`), next to the matchmaker's (same `{vchat}` hash tag, so a cluster-mode Redis
 * keeps them in the matchmaker's slot):
 *   nodes              ZSET  nodeId → last heartbeat (Redis TIME, ms): one clock for all nodes
 *   registry(nodeId)   HASH  socketId → userId of the node's connected sockets, expiring unless refreshed
 */

// KEYS: nodes, n:<id>. ARGV: nodeId, registry TTL ms. 1 when the node was not registered (first
// beat, declared dead meanwhile, or a Redis that lost its data), 0 otherwise.
const BEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return added
`;

// KEYS: nodes. ARGV: deadAfterMs, max. Claims the dead nodes: removed here, so exactly one caller gets each.
const REAP = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%.0f', now - tonumber(ARGV[1])), 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(dead) do redis.call('ZREM', KEYS[1], id) end
return dead
`;

// KEYS: nodes. ARGV: deadAfterMs. The nodes heard from within deadAfterMs.
const LIVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%.0f', now - tonumber(ARGV[1])), '+inf')
`;

interface PresenceScripts {
  vchatNodeBeat(nodes: string, registry: string, nodeId: string, ttl: string): Promise<number>;
  vchatNodeReap(nodes: string, deadAfterMs: string, max: string): Promise<string[]>;
  vchatNodeLive(nodes: string, deadAfterMs: string): Promise<string[]>;
}

/**
 * Presence of nodes and their users, so that a crashed node's users are cleaned up by the others:
 * every node writes a heartbeat and the list of its sockets to Redis; a node whose heartbeat is
 * older than `deadAfterMs` is claimed by one of the others (atomically), which ends the calls of
 * its sockets (`call:ended` with `disconnected` to their peers) and takes its users out of the queue.
 *
 * It also keeps this node's part of Redis true: when the heartbeat finds the node unregistered
 * (Redis replaced without its data, or the node taken for dead while it was only slow), it writes
 * its sockets again, and every heartbeat has the keeper give back this node's waiting users.
 */
export function createPresence({ redis, io, matchmaker, calls, keeper, nodeId, logger, options: o }: PresenceDeps): Presence {
  const log = logger.child({ module: "presence", nodeId });
  const keys = matchmaker.keys.all;
  const NODES = keys.nodes;
  const REGISTRY = keys.registry(nodeId);
  // Long enough to outlive outages of the node's own heartbeats; short enough that a cluster
  // that died completely leaves nothing behind for long.
  const registryTtl = String(Math.max(60_000, o.deadAfterMs * 20));

  redis.defineCommand("vchatNodeBeat", { numberOfKeys: 2, lua: BEAT });
  redis.defineCommand("vchatNodeReap", { numberOfKeys: 1, lua: REAP });
  redis.defineCommand("vchatNodeLive", { numberOfKeys: 1, lua: LIVE, readOnly: true });
  const r = redis as RedisClient & PresenceScripts;
  const local = () => io.of("/").sockets;

  // While Redis is unreachable these fail by the hundred, and the node says so once (see
  // connectRedis); with Redis up a failure is news (a script's keys on two cluster slots, say).
  const logFailure = (what: string) => (err: unknown) =>
    redis.status === "ready" ? log.warn({ err: (err as Error).message }, `${what} failed`) : log.debug({ err }, `${what} failed (Redis unreachable?)`);

  // ---- this node's sockets --------------------------------------------------------------
  io.on("connection", (socket) => {
    r.hset(REGISTRY, socket.id, socket.data.user.id).catch(logFailure("registering a socket"));
    socket.on("disconnect", () => {
      r.hdel(REGISTRY, socket.id).catch(logFailure("unregistering a socket"));
    });
  });

  async function writeRegistry(): Promise<void> {
    const pairs = [...local().values()].flatMap((s) => [s.id, s.data.user.id]);
    const tx = r.multi().del(REGISTRY);
    if (pairs.length > 0) tx.hset(REGISTRY, ...pairs);
    await tx.pexpire(REGISTRY, registryTtl).exec();
  }

  // ---- heartbeat ------------------------------------------------------------------------
  let registered = false;
  let lastBeat = 0;
  let beating = false;
  async function beat(): Promise<void> {
    if (beating) return;
    beating = true;
    try {
      const added = await r.vchatNodeBeat(NODES, REGISTRY, nodeId, registryTtl);
      lastBeat = Date.now();
      if (added === 1) await registerAgain();
      await keeper.keep();
    } catch (err) {
      logFailure("heartbeat")(err);
    } finally {
      beating = false;
    }
  }

  /** The beat found the node unregistered: its first beat, or Redis lost it. */
  async function registerAgain(): Promise<void> {
    await writeRegistry();
    if (registered) log.warn("this node was missing from Redis (Redis replaced, or the node was declared dead): registered again");
    registered = true;
  }

  // After Redis was unreachable, every node's heartbeat is old: nobody is judged until all had
  // time to reconnect and beat again. The sockets that came or went meanwhile are written again.
  let graceUntil = 0;
  redis.on("ready", () => {
    graceUntil = Date.now() + o.deadAfterMs + o.heartbeatMs;
    if (registered) writeRegistry().catch(logFailure("writing the socket registry again"));
  });

  // ---- reaping dead nodes ----------------------------------------------------------------
  let lastTick = Date.now();
  let reaping = false;

  /**
   * Whether this node may judge the others now. A node whose own timers ran late (a stalled event
   * loop) may see the others' heartbeats as old only because it could not run: it judges nobody
   * until it has beaten in time again; nor does anyone within the grace after an outage.
   */
  function mayJudge(now: number): boolean {
    const lag = now - lastTick - o.reapIntervalMs;
    lastTick = now;
    return now >= graceUntil && lag <= o.deadAfterMs / 3 && now - lastBeat <= o.heartbeatMs * 1.5 + o.deadAfterMs / 3;
  }

  async function reap(): Promise<void> {
    if (!mayJudge(Date.now()) || reaping) return;
    reaping = true;
    try {
      const dead = await r.vchatNodeReap(NODES, String(o.deadAfterMs), "10");
      for (const id of dead) if (id !== nodeId) await cleanUpAfter(id);
    } catch (err) {
      logFailure("looking for dead nodes")(err);
    } finally {
      reaping = false;
    }
  }

  /** Ends the calls of a dead node's sockets and takes its users out of the queue. */
  async function cleanUpAfter(deadId: string): Promise<void> {
    const key = keys.registry(deadId);
    const sockets = Object.entries(await r.hgetall(key));
    const ended = new Set<string>();
    let left = 0;
    // In chunks: a big node's users are cleaned up quickly without flooding Redis.
    for (let i = 0; i < sockets.length; i += 50) {
      await Promise.all(
        sockets.slice(i, i + 50).map(async ([socketId, userId]) => {
          const session = await matchmaker.sessionOf(userId);
          if (session && !ended.has(session.id) && hasSocket(session, socketId)) {
            ended.add(session.id);
            await calls.endCall(session.id, "disconnected");
          }
          // A user who already came back through another node waits with a new socket: kept.
          if (await matchmaker.leave(userId, socketId)) left++;
        }),
      );
    }
    await r.del(key);
    log.warn({ deadNode: deadId, sockets: sockets.length, callsEnded: ended.size, leftQueue: left }, "a node stopped beating: cleaned up its users");
  }

  /** Whether any of the session's sockets is listed by a live node. */
  async function onLiveNode(session: LiveSession, nodes: string[]): Promise<boolean> {
    for (const node of nodes) {
      if ((await r.hmget(keys.registry(node), session.offerer.socketId, session.answerer.socketId)).some(Boolean)) return true;
    }
    return false;
  }

  let beatTimer: NodeJS.Timeout | undefined;
  let reapTimer: NodeJS.Timeout | undefined;
  let stopped: Promise<void> | undefined;
  const liveNodes = () => r.vchatNodeLive(NODES, String(o.deadAfterMs));
  return {
    start() {
      if (beatTimer) return;
      beatTimer = setInterval(() => void beat(), o.heartbeatMs);
      reapTimer = setInterval(() => void reap(), o.reapIntervalMs);
      beatTimer.unref();
      reapTimer.unref();
      void beat();
    },
    liveNodes,
    async endOrphanedCalls() {
      const nodes = await liveNodes();
      let ended = 0;
      for (const session of await matchmaker.liveSessions()) {
        if (!(await onLiveNode(session, nodes)) && (await calls.endCall(session.id, "server-restart"))) ended++;
      }
      return ended;
    },
    stop() {
      stopped ??= (async () => {
        clearInterval(beatTimer);
        clearInterval(reapTimer);
        await r.multi().zrem(NODES, nodeId).del(REGISTRY).exec().catch(logFailure("leaving the cluster"));
      })();
      return stopped;
    },
  };
}

function hasSocket(session: LiveSession, socketId: string): boolean {
  return session.offerer.socketId === socketId || session.answerer.socketId === socketId;
}
