import type { RedisClient } from "./redis.ts";
import type { EndReason } from "../../protocol/index.ts";
import type { Tuning } from "../config.ts";
import type { Logger } from "../log.ts";
import type { LiveSession } from "../matching/matchmaker.ts";
import { isCallRoom, type VchatServer, type VchatSocket } from "../signaling/types.ts";
import type { NodeMatchmaker } from "./node-matchmaker.ts";

/** Heartbeat, death and reaping periods: `config.tuning.presence`. */
export type PresenceOptions = Tuning["presence"];

/** What presence needs of the call use cases. */
export interface PresenceCalls {
  join(socket: VchatSocket, prefs: NonNullable<VchatSocket["data"]["lobby"]>): Promise<unknown>;
  endCall(sessionId: string, reason: EndReason): Promise<boolean>;
}

export interface PresenceDeps {
  redis: RedisClient;
  io: VchatServer;
  matchmaker: NodeMatchmaker;
  calls: PresenceCalls;
  nodeId: string;
  logger: Logger;
  options: PresenceOptions;
}

export interface Presence {
  /** Ids of the nodes that are alive now (by their heartbeats). */
  liveNodes(): Promise<string[]>;
  /**
   * Live sessions none of whose sockets is on a live node: the calls of nodes that died together
   * and stayed down until their socket lists expired, so no reap could end them.
   */
  orphanedSessions(): Promise<LiveSession[]>;
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
 * its sockets again; every heartbeat checks that the node's waiting users are still in the queue
 * and queues again, at their old place, those lost to it on two beats running; sessions whose end
 * failed during an outage are ended once Redis is back.
 */
export function startPresence({ redis, io, matchmaker, calls, nodeId, logger, options }: PresenceDeps): Presence {
  const o = options;
  const log = logger.child({ module: "presence", nodeId });
  const keys = matchmaker.keys.all;
  const NODES = keys.nodes;
  const registryOf = keys.registry;
  const REGISTRY = registryOf(nodeId);
  // Long enough to outlive outages of the node's own heartbeats; short enough that a cluster
  // that died completely leaves nothing behind for long.
  const registryTtl = String(Math.max(60_000, o.deadAfterMs * 20));

  redis.defineCommand("vchatNodeBeat", { numberOfKeys: 2, lua: BEAT });
  redis.defineCommand("vchatNodeReap", { numberOfKeys: 1, lua: REAP });
  redis.defineCommand("vchatNodeLive", { numberOfKeys: 1, lua: LIVE, readOnly: true });
  const r = redis as RedisClient & PresenceScripts;
  const local = () => io.of("/").sockets;

  // ---- this node's sockets --------------------------------------------------------------
  // While Redis is unreachable these fail by the hundred, and the node says so once (see
  // connectRedis); with Redis up a failure is news (a script's keys on two cluster slots, say).
  const logFailure = (what: string) => (err: unknown) =>
    redis.status === "ready" ? log.warn({ err: (err as Error).message }, `${what} failed`) : log.debug({ err }, `${what} failed (Redis unreachable?)`);
  io.on("connection", (socket) => {
    r.hset(REGISTRY, socket.id, socket.data.user.id).catch(logFailure("registering a socket"));
    // Before the call use cases take the user out of the queue: remember in socket.data, which
    // connection state recovery keeps with the session, that the user was waiting.
    (socket as unknown as NodeJS.EventEmitter).prependListener("disconnecting", () => {
      if (matchmaker.queued.get(socket.data.user.id)?.socketId === socket.id) (socket.data as Requeue).requeue = true;
    });
    socket.on("disconnect", () => {
      r.hdel(REGISTRY, socket.id).catch(logFailure("unregistering a socket"));
    });
    if (socket.recovered) void checkRecovered(socket);
  });
  // A socket put into a call room by any node (through the adapter) no longer waits.
  io.of("/").adapter.on("join-room", (room: string, id: string) => {
    if (!isCallRoom(room)) return;
    const socket = local().get(id);
    if (socket && matchmaker.queued.get(socket.data.user.id)?.socketId === id) matchmaker.queued.delete(socket.data.user.id);
  });

  /**
   * Connection state recovery gives a socket back its rooms after a short drop. Its call ended at
   * the drop (the peer was told `disconnected`), so it leaves such rooms and is told as well.
   */
  async function checkRecovered(socket: VchatSocket): Promise<void> {
    for (const room of [...socket.rooms].filter(isCallRoom)) {
      const sessionId = room.slice(2);
      const live = await matchmaker.getSession(sessionId).catch(() => null);
      if (live && (live.offerer.socketId === socket.id || live.answerer.socketId === socket.id)) continue;
      socket.leave(room);
      socket.emit("call:ended", { sessionId, reason: "disconnected" });
    }
    // A user who was waiting when the connection dropped still waits, as far as they know.
    const data = socket.data as Requeue;
    if (data.requeue) {
      data.requeue = undefined;
      await calls.join(socket, socket.data.lobby ?? {}).catch((err) => log.warn({ err }, "could not queue a recovered user again"));
    }
  }

  async function writeRegistry(): Promise<void> {
    const pairs = [...local().values()].flatMap((s) => [s.id, s.data.user.id]);
    const tx = r.multi().del(REGISTRY);
    if (pairs.length > 0) tx.hset(REGISTRY, ...pairs);
    await tx.pexpire(REGISTRY, registryTtl).exec();
  }

  /** Queues again these users of this node, who wait but are no longer in Redis' queue. */
  async function requeue(userIds: string[]): Promise<void> {
    let n = 0;
    for (const userId of userIds) {
      const waiter = matchmaker.queued.get(userId);
      if (!waiter) continue;
      const socket = local().get(waiter.socketId);
      if (!socket || [...socket.rooms].some(isCallRoom)) {
        matchmaker.queued.delete(userId);
        continue;
      }
      await calls.join(socket, socket.data.lobby ?? {}).then(
        () => n++,
        (err) => log.warn({ err, userId }, "could not queue a waiting user again"),
      );
    }
    if (n > 0) log.info({ users: n }, "queued this node's waiting users again");
  }

  // ---- heartbeat ------------------------------------------------------------------------
  let registered = false;
  /** This node's waiting users that the last beat found lost to Redis' queue. */
  let lostBefore = new Set<string>();
  let lastBeat = 0;
  let beating = false;
  async function beat(): Promise<void> {
    if (beating) return;
    beating = true;
    try {
      const added = await r.vchatNodeBeat(NODES, REGISTRY, nodeId, registryTtl);
      lastBeat = Date.now();
      if (added === 1) {
        await writeRegistry();
        if (registered) log.warn("this node was missing from Redis (Redis replaced, or the node was declared dead): registered again");
        registered = true;
      }
      const lost = new Set(matchmaker.queued.size > 0 ? await matchmaker.touch([...matchmaker.queued.keys()]) : []);
      // Queued again once lost on two beats running: a match made just before (its room join
      // still on its way from another node, maybe held up by an outage) lands first, so its
      // users are not queued twice.
      const again = [...lost].filter((u) => lostBefore.has(u));
      lostBefore = lost;
      if (again.length > 0) await requeue(again);
      if (matchmaker.pendingEnds.size > 0) await matchmaker.retryEnds();
    } catch (err) {
      logFailure("heartbeat")(err);
    } finally {
      beating = false;
    }
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
  async function reap(): Promise<void> {
    const now = Date.now();
    const lag = now - lastTick - o.reapIntervalMs;
    lastTick = now;
    // A node whose own timers ran late (a stalled event loop) may see the others' heartbeats as
    // old only because it could not run: it judges nobody until it has beaten in time again.
    if (reaping || now < graceUntil || lag > o.deadAfterMs / 3 || now - lastBeat > o.heartbeatMs * 1.5 + o.deadAfterMs / 3) return;
    reaping = true;
    try {
      const dead = await r.vchatNodeReap(NODES, String(o.deadAfterMs), "10");
      for (const id of dead) if (id !== nodeId) await cleanUp(id);
    } catch (err) {
      logFailure("looking for dead nodes")(err);
    } finally {
      reaping = false;
    }
  }

  async function cleanUp(deadId: string): Promise<void> {
    const key = registryOf(deadId);
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

  const beatTimer = setInterval(() => void beat(), o.heartbeatMs);
  const reapTimer = setInterval(() => void reap(), o.reapIntervalMs);
  beatTimer.unref();
  reapTimer.unref();
  void beat();

  let stopped: Promise<void> | undefined;
  return {
    async liveNodes() {
      return r.vchatNodeLive(NODES, String(o.deadAfterMs));
    },
    async orphanedSessions() {
      const nodes = await r.vchatNodeLive(NODES, String(o.deadAfterMs));
      const orphaned: LiveSession[] = [];
      for (const session of await matchmaker.liveSessions()) {
        const sockets = [session.offerer.socketId, session.answerer.socketId];
        let onLiveNode = false;
        for (const node of nodes) {
          if ((await r.hmget(registryOf(node), ...sockets)).some(Boolean)) {
            onLiveNode = true;
            break;
          }
        }
        if (!onLiveNode) orphaned.push(session);
      }
      return orphaned;
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

/** Carried in socket.data across a dropped connection (connection state recovery persists it). */
interface Requeue {
  requeue?: boolean;
}

function hasSocket(session: LiveSession, socketId: string): boolean {
  return session.offerer.socketId === socketId || session.answerer.socketId === socketId;
}

