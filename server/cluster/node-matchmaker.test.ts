import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VchatError } from "../../protocol/index.ts";
import type { QueueEntry } from "../matching/matchmaker.ts";
import { createRedisMatchmaker } from "../matching/redis-matchmaker.ts";
import { redisInstalled, startRedis, type RunningRedis } from "./redis-process.ts";
import { nodeMatchmaker } from "./node-matchmaker.ts";

const available = redisInstalled();
if (!available) console.warn("SKIPPED: redis-server is not installed, so the node matchmaker tests did not run");

const entry = (userId: string, socketId = `sock-${userId}`): QueueEntry => ({ userId, socketId, nickname: userId, interests: [], relayOnly: false, avoid: [] });

describe.skipIf(!available)("the node's view of the Redis matchmaker", () => {
  let server: RunningRedis;
  let client: Redis;
  let n = 0;
  const fresh = (staleAfterMs = 0) => nodeMatchmaker(createRedisMatchmaker(client, { keyPrefix: `nm${process.pid}-${++n}` }), { staleAfterMs });

  beforeAll(async () => {
    server = await startRedis();
    client = new Redis(server.url);
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it("remembers its waiting users until they are matched or leave", async () => {
    const mm = fresh();
    expect(await mm.join(entry("a"))).toBeNull();
    expect(mm.queued.get("a")).toEqual({ socketId: "sock-a", since: expect.any(Number) });
    expect(await mm.join(entry("b"))).not.toBeNull();
    expect(mm.queued.size).toBe(0);
    expect(await mm.join(entry("c"))).toBeNull();
    await mm.leave("c");
    expect(mm.queued.size).toBe(0);
  });

  it("queues a waiting user whom Redis lost at their old place when they join again", async () => {
    const mm = fresh();
    const t0 = Date.now();
    expect(await mm.join(entry("a"), t0)).toBeNull();
    // Redis replaced without its data; c comes meanwhile and will not meet a.
    const keys = await client.keys(`${mm.keys.prefix}*`);
    await client.del(...keys);
    expect(await mm.join({ ...entry("c"), avoid: ["a"] }, t0 + 1000)).toBeNull();
    expect(await mm.join(entry("a"), t0 + 2000)).toBeNull();
    const s = await mm.join(entry("d"), t0 + 2001);
    expect(s!.offerer.userId).toBe("a");
    expect(s!.waitedMs.offerer).toBe(2001);
  });

  it("finds a session that the joining socket is no longer in (its end was lost), for the caller to end", async () => {
    const mm = fresh(0);
    await mm.join(entry("a"));
    const session = await mm.join(entry("b"));
    expect(session).not.toBeNull();
    // "a" joins again from the same socket as though the call had ended: it had, but Redis never heard.
    await expect(mm.join(entry("a"))).rejects.toMatchObject({ code: "ALREADY_IN_CALL" });
    expect((await mm.staleSession(entry("a")))?.id).toBe(session!.id);
  });

  it("leaves a session alone when another socket of the user is in it, or when it is young", async () => {
    const mm = fresh(60_000);
    await mm.join(entry("a"));
    await mm.join(entry("b"));
    expect(await mm.staleSession(entry("a"))).toBeNull();
    const old = fresh(0);
    await old.join(entry("x", "tab-1"));
    await old.join(entry("y"));
    expect(await old.staleSession(entry("x", "tab-2"))).toBeNull();
  });

  it("ends sessions later when Redis was unreachable at the end", async () => {
    const inner = createRedisMatchmaker(client, { keyPrefix: `nm${process.pid}-${++n}` });
    let down = false;
    const mm = nodeMatchmaker({
      ...inner,
      endSession: async (id, opts) => {
        if (down) throw new VchatError("UNAVAILABLE", "Matching is unavailable right now");
        return inner.endSession(id, opts);
      },
    });
    await mm.join(entry("a"));
    const session = (await mm.join(entry("b")))!;
    down = true;
    await expect(mm.endSession(session.id)).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect([...mm.pendingEnds]).toEqual([session.id]);
    down = false;
    await mm.retryEnds();
    expect(mm.pendingEnds.size).toBe(0);
    expect(await inner.getSession(session.id)).toBeNull();
    expect(await inner.sessionOf("a")).toBeNull();
  });
});
