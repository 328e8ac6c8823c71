import { randomUUID } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import { VchatError } from "../../protocol/index.ts";
import { redisKeys, type RedisKeys } from "../cluster/keys.ts";
import { normalise } from "./memory-matchmaker.ts";
import { defaultMatchmakerOptions, type LiveSession, type Matchmaker, type MatchmakerOptions } from "./matchmaker.ts";

export interface RedisMatchmakerOptions extends MatchmakerOptions {
  /**
   * Put before every key. All keys also carry the hash tag `{vchat}`, so on cluster-mode Redis
   * they live in one slot and every script can touch all of them.
   * @default "vchat"
   */
  keyPrefix: string;
  /** How long a live session's state is kept when nobody ends it (a crashed node's calls). @default 21600000 (6 h) */
  sessionTtlMs: number;
  /**
   * A queued user not seen (join or `touch`) for this long is dropped from the queue, so the
   * waiters of a crashed node do not get matched. Nodes `touch` their waiting users well within
   * it. 0 keeps users until they leave. @default 600000 (10 min); nodes use `tuning.queueTtlMs`
   */
  queueTtlMs: number;
  /** At most this many candidates a script looks at per source (bucket, open list) before giving up. @default 500 */
  scanLimit: number;
  /** At most this many queue heads one `sweep` call examines. @default 2000 */
  sweepLimit: number;
}

export const defaultRedisMatchmakerOptions: RedisMatchmakerOptions = {
  ...defaultMatchmakerOptions,
  keyPrefix: "vchat",
  sessionTtlMs: 6 * 3600_000,
  // Without a node touching its waiters (tests, tools); a node passes `tuning.queueTtlMs`.
  queueTtlMs: 600_000,
  scanLimit: 500,
  sweepLimit: 2000,
};

/** The Redis matchmaker also lets a node keep its own waiting users alive (see `queueTtlMs`). */
export interface RedisMatchmaker extends Matchmaker {
  /**
   * Marks queued users as still there. Returns those of them that are neither queued nor in a
   * call: lost to the queue behind their node's back (a Redis replaced without its data, a reap
   * while their node was alive, a prune), for the node to queue them again.
   */
  touch(userIds: string[], now?: number): Promise<string[]>;
  /** The key names, for tests and operators. */
  readonly keys: { queue: string; prefix: string; all: RedisKeys };
}

/*
 * Layout (P = `${keyPrefix}:{vchat}:`):
 *   P q        ZSET  everyone waiting; score = joinedAt * 1024 + (seq % 1024): FIFO by enqueue ms,
 *                    ties in arrival order. 2^53 holds ms * 1024 until the year 2248.
 *   P plain    ZSET  waiters without interests (open at once), same scores
 *   P int      ZSET  waiters with interests; those whose wait ran out are a score prefix
 *   P b:<i>    ZSET  the bucket of interest i
 *   P e        HASH  userId → the entry as JSON (from Node, never re-encoded in Lua)
 *   P seen     ZSET  userId → last join/touch ms (queueTtlMs)
 *   P apart    ZSET  "a\0b" (sorted ids) → kept apart until ms
 *   P s:<id>   STRING the session JSON, PX sessionTtlMs
 *   P us:<uid> STRING the user's session id, PX sessionTtlMs
 *   P live     ZSET  session id → startedAt (lazily cleaned when s:<id> expired)
 *   P seq      STRING arrival counter
 * The per-interest and per-session keys are derived inside the scripts from KEYS[1]; they carry
 * the same hash tag, so they are in the same cluster slot as the declared keys.
 */

// Shared head of every script. Lua numbers reach Redis through "%.14g" when passed as numbers,
// which would round 16-digit scores: every number sent back to Redis goes through num().
const LUA_LIB = `
local P = string.sub(KEYS[1], 1, -2)
local Q, PLAIN, INT, E, SEEN, APART, LIVE, SEQ = P..'q', P..'plain', P..'int', P..'e', P..'seen', P..'apart', P..'live', P..'seq'
local M = 1024
local BATCH = 32
local function num(x) return string.format('%.0f', x) end

local function decode(raw, score)
  local e = cjson.decode(raw)
  e.avoidSet = {}
  for _, a in ipairs(e.avoid) do e.avoidSet[a] = true end
  e.score = score
  e.t = math.floor(score / M)
  e.queued = true
  return e
end

-- Queued entries loaded in this run; false for users known not to be queued.
local cache = {}
local function entry(u, sc)
  local c = cache[u]
  if c ~= nil then
    if c == false then return nil end
    return c
  end
  local raw = redis.call('HGET', E, u)
  if raw and not sc then sc = redis.call('ZSCORE', Q, u) end
  if not raw or not sc then cache[u] = false; return nil end
  c = decode(raw, tonumber(sc))
  cache[u] = c
  return c
end

local function pairKey(a, b)
  if a < b then return a .. '\\0' .. b end
  return b .. '\\0' .. a
end

-- Keeps a and b from being paired until until_ (ms), or longer when set so already.
local function setApart(a, b, until_)
  local key = pairKey(a, b)
  local current = redis.call('ZSCORE', APART, key)
  if not current or tonumber(current) < until_ then redis.call('ZADD', APART, num(until_), key) end
end

local function isOpen(e, now, wait)
  return #e.interests == 0 or now - e.t >= wait
end

local function mayMeet(a, b, now)
  if a.userId == b.userId then return false end
  if a.avoidSet[b.userId] or b.avoidSet[a.userId] then return false end
  local until_ = redis.call('ZSCORE', APART, pairKey(a.userId, b.userId))
  return not (until_ and tonumber(until_) > now)
end

local function shares(a, b)
  local set = {}
  for _, i in ipairs(a.interests) do set[i] = true end
  for _, i in ipairs(b.interests) do if set[i] then return true end end
  return false
end

local function earlier(a, b)
  if not a then return b end
  if not b then return a end
  if b.score < a.score then return b end
  return a
end

-- The first waiter of zset key (score <= maxScore) that self may meet and that came before best,
-- looking at no more than limit members.
local function firstIn(key, self, maxScore, now, limit, best)
  local offset = 0
  while offset < limit do
    local r = redis.call('ZRANGEBYSCORE', key, '-inf', maxScore, 'WITHSCORES', 'LIMIT', offset, BATCH)
    for j = 1, #r, 2 do
      local u, sc = r[j], tonumber(r[j + 1])
      if best and sc >= best.score then return nil end
      if u ~= self.userId then
        local c = entry(u, sc)
        if c and mayMeet(self, c, now) then return c end
      end
    end
    if #r < 2 * BATCH then return nil end
    offset = offset + BATCH
  end
  return nil
end

local function findPartner(self, now, wait, limit)
  local best = nil
  for _, i in ipairs(self.interests) do
    best = earlier(best, firstIn(P..'b:'..i, self, '+inf', now, limit, best))
  end
  if isOpen(self, now, wait) then
    best = earlier(best, firstIn(PLAIN, self, '+inf', now, limit, best))
    -- Interested waiters whose wait ran out: joinedAt <= now - wait.
    best = earlier(best, firstIn(INT, self, '(' .. num((now - wait + 1) * M), now, limit, best))
  end
  return best
end

local function index(e)
  local sc = num(e.score)
  if #e.interests == 0 then
    redis.call('ZADD', PLAIN, sc, e.userId)
  else
    redis.call('ZADD', INT, sc, e.userId)
    for _, i in ipairs(e.interests) do redis.call('ZADD', P..'b:'..i, sc, e.userId) end
  end
end

local function unindex(e)
  if #e.interests == 0 then
    redis.call('ZREM', PLAIN, e.userId)
  else
    redis.call('ZREM', INT, e.userId)
    for _, i in ipairs(e.interests) do redis.call('ZREM', P..'b:'..i, e.userId) end
  end
end

local function remove(e)
  if e.queued then
    unindex(e)
    redis.call('ZREM', Q, e.userId)
    redis.call('ZREM', SEEN, e.userId)
    redis.call('HDEL', E, e.userId)
  end
  e.queued = false
  cache[e.userId] = false
end

local function pair(a, b, sid, now, ttl)
  local o, w = a, b
  if b.score < a.score then o, w = b, a end
  remove(a)
  remove(b)
  local wset = {}
  for _, i in ipairs(w.interests) do wset[i] = true end
  local shared = {}
  for _, i in ipairs(o.interests) do if wset[i] then shared[#shared + 1] = i end end
  local session = cjson.encode({
    id = sid,
    offerer = { userId = o.userId, socketId = o.socketId, nickname = o.nickname },
    answerer = { userId = w.userId, socketId = w.socketId, nickname = w.nickname },
    relayOnly = (o.relayOnly == true) or (w.relayOnly == true),
    sharedInterests = shared,
    startedAt = num(now),
    waitedMs = { offerer = num(math.max(0, now - o.t)), answerer = num(math.max(0, now - w.t)) },
  })
  redis.call('SET', P..'s:'..sid, session, 'PX', ttl)
  redis.call('SET', P..'us:'..o.userId, sid, 'PX', ttl)
  redis.call('SET', P..'us:'..w.userId, sid, 'PX', ttl)
  redis.call('ZADD', LIVE, num(now), sid)
  return session
end

local function pruneStale(now, queueTtl, max)
  if queueTtl <= 0 then return end
  local stale = redis.call('ZRANGEBYSCORE', SEEN, '-inf', '(' .. num(now - queueTtl), 'LIMIT', 0, max)
  for _, u in ipairs(stale) do
    local e = entry(u)
    if e then remove(e) else redis.call('ZREM', SEEN, u); redis.call('HDEL', E, u) end
  end
end
`;

// KEYS[1] = P q. ARGV: userId, entry JSON, now, interestWaitMs, session id, sessionTtlMs, scanLimit.
// Returns {'busy'} | {'wait'} | {'match', sessionJSON}.
const JOIN = `${LUA_LIB}
local uid, raw, now, wait, sid, ttl, limit =
  ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6], tonumber(ARGV[7])
if redis.call('EXISTS', P..'us:'..uid) == 1 then return {'busy'} end
local old = entry(uid)
if old then
  -- Re-join: same place and same start of the interest wait; only the details change.
  unindex(old)
  local self = decode(raw, old.score)
  index(self)
  redis.call('HSET', E, uid, raw)
  redis.call('ZADD', SEEN, num(now), uid)
  cache[uid] = self
  local partner = findPartner(self, now, wait, limit)
  if partner then return {'match', pair(partner, self, sid, now, ttl)} end
  return {'wait'}
end
-- A newcomer is looked at before it is stored: most joins either match at once (nothing to
-- store) or wait (stored once). Its provisional score sorts after every waiter of this ms.
local self = decode(raw, now * M + M - 1)
if self.since and self.since < now then
  -- Queued again with the place it had (see QueueEntry.since).
  self.t = math.floor(self.since)
  self.score = self.t * M + M - 1
end
self.queued = false
local partner = findPartner(self, now, wait, limit)
if partner then return {'match', pair(partner, self, sid, now, ttl)} end
self.score = self.t * M + (redis.call('INCR', SEQ) % M)
redis.call('ZADD', Q, num(self.score), uid)
index(self)
redis.call('HSET', E, uid, raw)
redis.call('ZADD', SEEN, num(now), uid)
return {'wait'}
`;

// KEYS[1] = P q. ARGV: now, interestWaitMs, sessionTtlMs, queueTtlMs, scanLimit, sweepLimit, session ids...
// Returns the JSON of each session made; fewer sessions than ids means the sweep is complete.
const SWEEP = `${LUA_LIB}
local now, wait, ttl, queueTtl, limit, sweepLimit = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', APART, '-inf', num(now))
pruneStale(now, queueTtl, 1000)
local nextId = 7
local made = {}
local heads = redis.call('ZRANGE', Q, 0, sweepLimit - 1, 'WITHSCORES')
for j = 1, #heads, 2 do
  if nextId > #ARGV then break end
  local self = entry(heads[j], heads[j + 1])
  if self then
    local partner = findPartner(self, now, wait, limit)
    if partner and mayMeet(self, partner, now) and ((isOpen(self, now, wait) and isOpen(partner, now, wait)) or shares(self, partner)) then
      made[#made + 1] = pair(self, partner, ARGV[nextId], now, ttl)
      nextId = nextId + 1
    end
  end
end
return made
`;

// KEYS[1] = P q. ARGV: userId[, socketId]. Returns 1 when the user was queued (with that socket).
const LEAVE = `${LUA_LIB}
local e = entry(ARGV[1])
if e and ARGV[2] and e.socketId ~= ARGV[2] then return 0 end
if not e then
  redis.call('HDEL', E, ARGV[1])
  redis.call('ZREM', SEEN, ARGV[1])
  return 0
end
remove(e)
return 1
`;

// KEYS[1] = P q. ARGV: session id, keepApart ('1'/'0'), now, rematchCooldownMs. Returns the session JSON or nil.
const END = `${LUA_LIB}
local sid, keepApart, now, cooldown = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3]), tonumber(ARGV[4])
local raw = redis.call('GET', P..'s:'..sid)
redis.call('ZREM', LIVE, sid)
if not raw then return false end
redis.call('DEL', P..'s:'..sid)
local s = cjson.decode(raw)
for _, u in ipairs({ s.offerer.userId, s.answerer.userId }) do
  if redis.call('GET', P..'us:'..u) == sid then redis.call('DEL', P..'us:'..u) end
end
if keepApart then setApart(s.offerer.userId, s.answerer.userId, now + cooldown) end
return raw
`;

// KEYS[1] = P q. ARGV: two user ids, until (ms).
const KEEP_APART = `${LUA_LIB}
setApart(ARGV[1], ARGV[2], tonumber(ARGV[3]))
return 1
`;

// KEYS[1] = P q. ARGV: userId. The user's session JSON or nil, in one round trip.
const SESSION_OF = `${LUA_LIB}
local sid = redis.call('GET', P..'us:'..ARGV[1])
if not sid then return false end
return redis.call('GET', P..'s:'..sid)
`;

// KEYS[1] = P q. ARGV: now, userIds... Marks the queued ones as seen; returns the others that
// are in no call either: lost to this queue (a replaced Redis, a reap or prune behind their node's back).
const TOUCH = `${LUA_LIB}
local lost = {}
for i = 2, #ARGV do
  local u = ARGV[i]
  if redis.call('ZSCORE', Q, u) then
    redis.call('ZADD', SEEN, ARGV[1], u)
  elseif redis.call('EXISTS', P..'us:'..u) == 0 then
    lost[#lost + 1] = u
  end
end
return lost
`;

interface Scripts {
  vchatMmJoin(key: string, ...args: string[]): Promise<[string, string?]>;
  vchatMmTouch(key: string, ...args: string[]): Promise<string[]>;
  vchatMmSweep(key: string, ...args: string[]): Promise<string[]>;
  vchatMmLeave(key: string, userId: string, socketId?: string): Promise<number>;
  vchatMmEnd(key: string, ...args: string[]): Promise<string | null>;
  vchatMmSessionOf(key: string, userId: string): Promise<string | null>;
  vchatMmKeepApart(key: string, ...args: string[]): Promise<number>;
}

/** How many session ids one sweep script call may use before Node calls it again. */
const SWEEP_BATCH = 64;

/**
 * The matchmaker of `vchat serve`: queue, pairing and live sessions in Redis, shared by every
 * node. Each join, sweep, leave and end is one Lua script, so two nodes can never hand one user
 * to two sessions. Takes a connected ioredis client (standalone or cluster) and never closes it:
 * its owner does.
 *
 * Redis failures come out as `VchatError("UNAVAILABLE")` so handlers can answer with a stable code.
 *
 * @example
 * const mm = createRedisMatchmaker(new Redis(url), { keyPrefix: "vchat" });
 */
export function createRedisMatchmaker(redis: Redis | Cluster, opts: Partial<RedisMatchmakerOptions> = {}): RedisMatchmaker {
  const o: RedisMatchmakerOptions = { ...defaultRedisMatchmakerOptions, ...opts };
  const all = redisKeys(o.keyPrefix);
  const P = all.matchmaker;
  const Q = `${P}q`;

  // defineCommand is per client; defining the same script again on a shared client is harmless.
  redis.defineCommand("vchatMmJoin", { numberOfKeys: 1, lua: JOIN });
  redis.defineCommand("vchatMmSweep", { numberOfKeys: 1, lua: SWEEP });
  redis.defineCommand("vchatMmLeave", { numberOfKeys: 1, lua: LEAVE });
  redis.defineCommand("vchatMmEnd", { numberOfKeys: 1, lua: END });
  redis.defineCommand("vchatMmSessionOf", { numberOfKeys: 1, lua: SESSION_OF, readOnly: true });
  redis.defineCommand("vchatMmTouch", { numberOfKeys: 1, lua: TOUCH });
  redis.defineCommand("vchatMmKeepApart", { numberOfKeys: 1, lua: KEEP_APART });
  const r = redis as unknown as (Redis | Cluster) & Scripts;

  let closed = false;

  async function call<T>(fn: () => Promise<T>): Promise<T> {
    if (closed) throw new VchatError("UNAVAILABLE", "The matchmaker is closed");
    try {
      return await fn();
    } catch (err) {
      if (err instanceof VchatError) throw err;
      const unavailable = new VchatError("UNAVAILABLE", "Matching is unavailable right now");
      unavailable.cause = err;
      throw unavailable;
    }
  }

  return {
    keys: { queue: Q, prefix: P, all },

    join(input, now = Date.now()) {
      return call(async () => {
        const entry = normalise(input);
        const [status, json] = await r.vchatMmJoin(
          Q,
          entry.userId,
          JSON.stringify(entry),
          String(Math.floor(now)),
          String(o.interestWaitMs),
          randomUUID(),
          String(o.sessionTtlMs),
          String(o.scanLimit),
        );
        if (status === "busy") throw new VchatError("ALREADY_IN_CALL", "You are already in a call");
        return status === "match" && json ? parseSession(json) : null;
      });
    },

    leave(userId, socketId) {
      return call(async () => (await r.vchatMmLeave(Q, userId, ...(socketId === undefined ? [] : [socketId]))) === 1);
    },

    sweep(now = Date.now()) {
      return call(async () => {
        const made: LiveSession[] = [];
        // Bounded: each round pairs at least SWEEP_BATCH users or ends the loop.
        for (let round = 0; round < 100; round++) {
          const ids = Array.from({ length: SWEEP_BATCH }, () => randomUUID());
          const out = await r.vchatMmSweep(
            Q,
            String(Math.floor(now)),
            String(o.interestWaitMs),
            String(o.sessionTtlMs),
            String(o.queueTtlMs),
            String(o.scanLimit),
            String(o.sweepLimit),
            ...ids,
          );
          for (const json of out) made.push(parseSession(json));
          if (out.length < SWEEP_BATCH) break;
        }
        return made;
      });
    },

    queueLength() {
      return call(() => r.zcard(Q));
    },

    isQueued(userId) {
      return call(async () => (await r.zscore(Q, userId)) !== null);
    },

    getSession(sessionId) {
      return call(async () => {
        const json = await r.get(`${P}s:${sessionId}`);
        return json ? parseSession(json) : null;
      });
    },

    sessionOf(userId) {
      return call(async () => {
        const json = await r.vchatMmSessionOf(Q, userId);
        return json ? parseSession(json) : null;
      });
    },

    endSession(sessionId, opts = {}) {
      return call(async () => {
        const json = await r.vchatMmEnd(Q, sessionId, opts.keepApart ? "1" : "0", String(Math.floor(opts.now ?? Date.now())), String(o.rematchCooldownMs));
        return json ? parseSession(json) : null;
      });
    },

    keepApart(a, b, opts = {}) {
      return call(async () => {
        await r.vchatMmKeepApart(Q, a, b, String(Math.floor(opts.now ?? Date.now()) + o.rematchCooldownMs));
      });
    },

    liveSessions() {
      return call(async () => {
        const ids: string[] = await r.zrange(`${P}live`, "0", "-1");
        const sessions: LiveSession[] = [];
        // Chunks keep each MGET reply small; keys share the hash tag, so MGET is cluster-safe.
        for (let i = 0; i < ids.length; i += 500) {
          const chunk = ids.slice(i, i + 500);
          const values = await r.mget(chunk.map((id) => `${P}s:${id}`));
          const gone: string[] = [];
          values.forEach((json, j) => {
            if (json) sessions.push(parseSession(json));
            else gone.push(chunk[j]!);
          });
          // Sessions whose state expired (a crashed node's calls) leave the index too.
          if (gone.length > 0) await r.zrem(`${P}live`, ...gone);
        }
        return sessions;
      });
    },

    touch(userIds, now = Date.now()) {
      return call(async () => {
        const t = String(Math.floor(now));
        const lost: string[] = [];
        // A thousand at a time: one script never holds Redis for long.
        for (let i = 0; i < userIds.length; i += 1000) lost.push(...(await r.vchatMmTouch(Q, t, ...userIds.slice(i, i + 1000))));
        return lost;
      });
    },

    async close() {
      // The client belongs to the caller; only this handle stops working.
      closed = true;
    },
  };
}

/** Lua's cjson writes an empty array as `{}` and our numbers as strings: put both right. */
function parseSession(json: string): LiveSession {
  const s = JSON.parse(json) as Record<string, unknown> & {
    offerer: LiveSession["offerer"];
    answerer: LiveSession["answerer"];
    waitedMs: { offerer: string | number; answerer: string | number };
  };
  return {
    id: String(s.id),
    offerer: { userId: s.offerer.userId, socketId: s.offerer.socketId, nickname: s.offerer.nickname },
    answerer: { userId: s.answerer.userId, socketId: s.answerer.socketId, nickname: s.answerer.nickname },
    relayOnly: s.relayOnly === true,
    sharedInterests: Array.isArray(s.sharedInterests) ? (s.sharedInterests as string[]) : [],
    startedAt: Number(s.startedAt),
    waitedMs: { offerer: Number(s.waitedMs.offerer), answerer: Number(s.waitedMs.answerer) },
  };
}
