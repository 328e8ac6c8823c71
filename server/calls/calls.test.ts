import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ServerToClientEvents } from "../../protocol/index.ts";
import { parseConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import type { Matchmaker, Party } from "../matching/matchmaker.ts";
import { createMemoryMatchmaker } from "../matching/memory-matchmaker.ts";
import { createMetrics } from "../metrics.ts";
import { createRateLimits } from "../rate-limits.ts";
import { openSqliteStore } from "../store/sqlite-store.ts";
import type { Store } from "../store/store.ts";
import { createCalls, type CallRooms, type Calls } from "./calls.ts";

const config = parseConfig({
  jwtSecret: "x".repeat(32),
  turn: { secret: "turn-secret-0123456789", urls: ["turn:127.0.0.1:3478?transport=udp"] },
  tuning: { interestWaitMs: 200, sweepIntervalMs: 20 },
});

/**
 * Rooms in memory, this node's only, writing down what the use cases do to them in order:
 * "enter s1 a b", "leave s1 a b", "tell b call:ended", "relay a s1 signal", ...
 */
function memoryRooms() {
  const members = new Map<string, Set<string>>();
  const done: string[] = [];
  const told: { socketId: string; event: keyof ServerToClientEvents; payload: unknown }[] = [];
  const room = (sessionId: string) => members.get(sessionId) ?? members.set(sessionId, new Set()).get(sessionId)!;
  const rooms: CallRooms = {
    isIn: (socketId, sessionId) => room(sessionId).has(socketId),
    callsOf: (socketId) => [...members].filter(([, ids]) => ids.has(socketId)).map(([id]) => id),
    isLocal: () => true,
    enter(socketIds, sessionId) {
      socketIds.forEach((id) => room(sessionId).add(id));
      done.push(`enter ${sessionId} ${socketIds.join(" ")}`);
    },
    leave(socketIds, sessionId) {
      socketIds.forEach((id) => room(sessionId).delete(id));
      done.push(`leave ${sessionId} ${socketIds.join(" ")}`);
    },
    tell(socketId, event, ...args) {
      told.push({ socketId, event, payload: args[0] });
      done.push(`tell ${socketId} ${event}`);
    },
    relay(from, sessionId, event, ..._args) {
      done.push(`relay ${from} ${sessionId} ${event}`);
    },
    tellUser(userId, except, event, ..._args) {
      done.push(`tell user ${userId} but ${except} ${event}`);
    },
    endThroughRoom(sessionId, reason, by) {
      const others = [...room(sessionId)].filter((id) => id !== by);
      members.delete(sessionId);
      done.push(`end through room ${sessionId} ${reason}, telling ${others.join(" ")}`);
    },
  };
  return { rooms, done, told, members };
}

const party = (name: string): Party => ({ userId: `user-${name}`, socketId: name, nickname: name });
const [a, b, c] = [party("a"), party("b"), party("c")];

describe("call use cases (no sockets)", () => {
  let store: Store;
  let matchmaker: Matchmaker;
  let fake: ReturnType<typeof memoryRooms>;
  let calls: Calls;

  beforeEach(async () => {
    store = await openSqliteStore(":memory:");
    matchmaker = createMemoryMatchmaker(config.tuning);
    fake = memoryRooms();
    const metrics = createMetrics(() => matchmaker.queueLength());
    const limits = createRateLimits(config.tuning);
    calls = createCalls({ config, store, matchmaker, rooms: fake.rooms, metrics, limits, logger: createLogger("silent") });
  });
  afterEach(async () => {
    await calls.stop();
    await store.close();
  });

  /** a and b join and are matched; the session id. */
  const paired = async () => {
    await calls.join(a, {});
    await calls.join(b, {});
    const found = fake.told.find((t) => t.event === "match:found");
    return (found!.payload as { sessionId: string }).sessionId;
  };

  it("pairs two joiners: both in the call's room before either is told, the session stored", async () => {
    const sessionId = await paired();
    expect(fake.done).toEqual([`enter ${sessionId} a b`, "tell a match:found", "tell b match:found"]);
    expect(
      fake.told.map((t) => [t.socketId, (t.payload as { role: string; peer: { id: string } }).role, (t.payload as { peer: { id: string } }).peer.id]),
    ).toEqual([
      ["a", "offerer", b.userId],
      ["b", "answerer", a.userId],
    ]);
    expect((await store.getSession(sessionId))?.participants.map((p) => p.userId)).toEqual([a.userId, b.userId]);
  });

  it("ends a call: both parties leave its room before the peer is told, so a join on `call:ended` is accepted", async () => {
    const sessionId = await paired();
    fake.done.length = 0;
    let joined: unknown;
    const tell = fake.rooms.tell;
    // The peer joins the lobby the moment it is told, as the web client does.
    fake.rooms.tell = (socketId, event, ...args) => {
      tell(socketId, event, ...args);
      if (event === "call:ended") joined = calls.join(party(socketId), {});
    };
    await calls.end(a, sessionId);
    expect(fake.done.slice(0, 2)).toEqual([`leave ${sessionId} a b`, "tell b call:ended"]);
    expect(fake.told.at(-1)).toEqual({ socketId: "b", event: "call:ended", payload: { sessionId, reason: "ended" } });
    await expect(joined).resolves.toEqual({ waitingSince: expect.any(String) });
    expect(await store.getSession(sessionId)).toMatchObject({ endReason: "ended", endedBy: a.userId });
  });

  it("refuses a join from a socket in a call (ALREADY_IN_CALL), and events naming a call the socket is not in (NOT_IN_SESSION)", async () => {
    const sessionId = await paired();
    await expect(calls.join(a, {})).rejects.toMatchObject({ code: "ALREADY_IN_CALL" });
    expect(() => calls.signal(c, { sessionId, candidate: null })).toThrow(expect.objectContaining({ code: "NOT_IN_SESSION" }));
    await expect(calls.chat(c, { sessionId, text: "hi" })).rejects.toMatchObject({ code: "NOT_IN_SESSION" });
    await expect(calls.end(c, sessionId)).rejects.toMatchObject({ code: "NOT_IN_SESSION" });
    calls.signal(a, { sessionId, candidate: null });
    expect(fake.done.at(-1)).toBe(`relay a ${sessionId} signal`);
  });

  it("a block stored while the blocked user's join is on its way to the matchmaker keeps the two apart", async () => {
    for (const p of [a, b]) await store.createUser({ id: p.userId, nickname: p.nickname, kind: "guest", createdAt: new Date().toISOString() });
    await calls.join(a, {});
    // b's join reads b's blocks (none yet); a blocks b (another node, another tab) before b's
    // join reaches the matchmaker, when a waits and is in no call to end.
    const read = store.listBlockedEitherWay.bind(store);
    store.listBlockedEitherWay = async (userId) => {
      const blocked = await read(userId);
      if (userId === b.userId) await calls.block(a.userId, b.userId);
      return blocked;
    };
    await calls.join(b, {});
    expect(fake.told.filter((t) => t.event === "match:found")).toEqual([]);
    expect([await matchmaker.isQueued(a.userId), await matchmaker.isQueued(b.userId)]).toEqual([true, true]);
    // Neither is kept from others.
    await calls.join(c, {});
    expect(fake.told.filter((t) => t.event === "match:found").map((t) => t.socketId)).toEqual(["a", "c"]);
  });

  it("next: the peer is told `next`, the caller waits again and is kept apart from the peer", async () => {
    const sessionId = await paired();
    await calls.next(a, sessionId, {});
    expect(fake.told.at(-1)).toEqual({ socketId: "b", event: "call:ended", payload: { sessionId, reason: "next" } });
    expect(await matchmaker.isQueued(a.userId)).toBe(true);
    await calls.join(b, {});
    expect(await matchmaker.queueLength()).toBe(2);
    await calls.join(c, {});
    expect(fake.told.filter((t) => t.event === "match:found").map((t) => t.socketId)).toEqual(["a", "b", "a", "c"]);
  });

  it("a call whose live state is lost ends through its room; ending it from outside with nobody to tell does nothing", async () => {
    const sessionId = await paired();
    await matchmaker.endSession(sessionId);
    expect(await calls.endCall(sessionId, "disconnected")).toBe(false);
    await calls.end(a, sessionId);
    expect(fake.done.slice(-2)).toEqual([`end through room ${sessionId} ended, telling b`, `leave ${sessionId} a`]);
    expect(fake.rooms.callsOf("a")).toEqual([]);
  });

  it("matches late pairs only between start() and stop(); stop() ends this node's calls with server-shutdown", async () => {
    await calls.join(a, { interests: ["chess"] });
    await calls.join(b, { interests: ["golf"] });
    await new Promise((r) => setTimeout(r, config.tuning.interestWaitMs + 5 * config.tuning.sweepIntervalMs));
    expect(fake.told).toEqual([]);
    calls.start();
    const deadline = Date.now() + 5000;
    while (fake.told.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(fake.told.map((t) => [t.socketId, t.event])).toEqual([
      ["a", "match:found"],
      ["b", "match:found"],
    ]);
    const { sessionId } = fake.told[0]!.payload as { sessionId: string };
    await calls.stop();
    expect(fake.told.slice(2)).toEqual([
      { socketId: "a", event: "call:ended", payload: { sessionId, reason: "server-shutdown" } },
      { socketId: "b", event: "call:ended", payload: { sessionId, reason: "server-shutdown" } },
    ]);
  });
});
