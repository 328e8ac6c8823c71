import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallStats, IceResponse, MatchFound, SessionsResponse } from "../protocol/index.ts";
import type { Store } from "../server/store/store.ts";
import { api, next, record, request, sleep, socketFor, user, type ClientSocket, type TestUser } from "./support/client.ts";
import { until } from "./support/crowd.ts";

/** What the suite needs of a deployment: one or more node URLs sharing one service, and its store. */
export interface Deployment {
  urls: string[];
  /** The store the nodes write to, to check what was kept. */
  store: Store;
  stop(): Promise<unknown>;
}

/**
 * The signaling behaviour every deployment must show, from the users' side: one node
 * (`vchat dev`) or many (`vchat serve` on Redis). Users are spread over the nodes round-robin.
 * The deployment must use `interestWaitMs: 300` and a TURN config with a `turn:` URL.
 */
export function signalingSuite(name: string, start: () => Promise<Deployment>) {
  describe(`signaling: ${name}`, () => {
    let deployment: Deployment;
    let spread = 0;
    const users: TestUser[] = [];
    const url = () => deployment.urls[spread++ % deployment.urls.length]!;
    const newUser = async (nickname: string) => {
      const u = await user(url(), nickname);
      users.push(u);
      return u;
    };
    const join = async (u: TestUser, payload: object = {}) => {
      const res = await request(u.socket, "lobby:join", payload);
      expect(res).toMatchObject({ ok: true });
    };
    /** Joins both and waits for their match. */
    const pair = async (a: TestUser, b: TestUser, payloadA: object = {}, payloadB: object = {}) => {
      const fa = next(a.socket, "match:found");
      const fb = next(b.socket, "match:found");
      await join(a, payloadA);
      await join(b, payloadB);
      return Promise.all([fa, fb]);
    };
    const done = (...list: TestUser[]) => list.forEach((u) => u.socket.disconnect());
    const tabs: ClientSocket[] = [];
    /** Another socket of the same user (a second tab), on the next node. */
    const tab = async (u: TestUser) => {
      const socket = socketFor(url(), u.token);
      tabs.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("connect_error", reject);
      });
      return socket;
    };

    beforeAll(async () => {
      deployment = await start();
    });
    afterAll(async () => {
      users.forEach((u) => u.socket.disconnect());
      tabs.forEach((t) => t.disconnect());
      await deployment?.stop();
    });

    it("pairs in FIFO order: the longest waiter first, the earlier one offers", async () => {
      const [a, b, c, d] = await Promise.all(["a", "b", "c", "d"].map((n) => newUser(`fifo-${n}`)));
      const seenC = record(c!.socket, "match:found");
      const [fa, fb] = await pair(a!, b!);
      expect(fa.peer).toEqual({ id: b!.id, nickname: "fifo-b" });
      expect(fb.peer).toEqual({ id: a!.id, nickname: "fifo-a" });
      expect(fa.role).toBe("offerer");
      expect(fb.role).toBe("answerer");
      expect(fa.sessionId).toBe(fb.sessionId);
      await join(c!);
      const fd = next(d!.socket, "match:found");
      await join(d!);
      expect((await fd).peer.id).toBe(c!.id);
      expect((await fd).role).toBe("answerer");
      // c waited for d: it was never matched with a or b, who were in their call.
      await until(
        () => seenC.length > 0,
        5000,
        () => "c was not told of its match with d",
      );
      expect(seenC.map((m) => m.peer.id)).toEqual([d!.id]);
      done(a!, b!, c!, d!);
    });

    it("pairs people who share an interest, and anyone once the interest wait runs out", async () => {
      const [music, sports, music2] = await Promise.all(["m1", "s1", "m2"].map((n) => newUser(`int-${n}`)));
      const seenSports = record(sports!.socket, "match:found");
      const fm = next(music!.socket, "match:found");
      await join(music!, { interests: ["Music", "art"] });
      await join(sports!, { interests: ["sports"] });
      await join(music2!, { interests: ["music"] });
      const found = await fm;
      expect(found.peer.id).toBe(music2!.id);
      expect(found.sharedInterests).toEqual(["music"]);
      expect(seenSports).toHaveLength(0);

      // sports waits alone; after its wait (300 ms) it takes anyone, even someone with other interests.
      const other = await newUser("int-cooking");
      const t0 = Date.now();
      const fs = next(sports!.socket, "match:found", 5000);
      await join(other, { interests: ["cooking"] });
      const fallback = await fs;
      expect(fallback.peer.id).toBe(other.id);
      expect(fallback.sharedInterests).toEqual([]);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      done(music!, sports!, music2!, other);
    });

    it("never pairs users who blocked each other, either way", async () => {
      const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => newUser(`blk-${n}`)));
      const res = await api(url(), "/api/blocks", { token: b!.token, body: { userId: a!.id } });
      expect(res.status).toBe(204);
      const seenA = record(a!.socket, "match:found");
      await join(a!);
      await join(b!);
      const fc = next(c!.socket, "match:found");
      await join(c!);
      expect((await fc).peer.id).toBe(a!.id);
      // a, first in the queue, waited through b's join for c.
      await until(
        () => seenA.length > 0,
        5000,
        () => "a was not told of its match with c",
      );
      expect(seenA.map((m) => m.peer.id)).toEqual([c!.id]);
      done(a!, b!, c!);
    });

    it("blocking during a call ends it for the blocked user", async () => {
      const [a, b] = await Promise.all(["a", "b"].map((n) => newUser(`blkcall-${n}`)));
      const [fa] = await pair(a!, b!);
      const ended = next(b!.socket, "call:ended");
      expect((await api(url(), "/api/blocks", { token: a!.token, body: { userId: b!.id } })).status).toBe(204);
      expect(await ended).toEqual({ sessionId: fa.sessionId, reason: "blocked" });
      done(a!, b!);
    });

    it("call:next tells the peer, re-queues the caller, and keeps the two apart", async () => {
      const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => newUser(`next-${n}`)));
      const [fa] = await pair(a!, b!);
      const ended = next(b!.socket, "call:ended");
      const res = await request(a!.socket, "call:next", { sessionId: fa.sessionId });
      expect(res.ok).toBe(true);
      expect(await ended).toEqual({ sessionId: fa.sessionId, reason: "next" });
      const seenB = record(b!.socket, "match:found");
      await join(b!);
      const fc = next(c!.socket, "match:found");
      await join(c!);
      // a (queued again by call:next) and b waited side by side until c came: a got c.
      expect((await fc).peer.id).toBe(a!.id);
      expect(seenB).toHaveLength(0);
      done(a!, b!, c!);
    });

    it("relayOnly from either side makes both sides relay-only, without STUN", async () => {
      const [a, b] = await Promise.all(["a", "b"].map((n) => newUser(`relay-${n}`)));
      const [fa, fb] = await pair(a!, b!, {}, { relayOnly: true });
      for (const f of [fa, fb] as MatchFound[]) {
        expect(f.iceTransportPolicy).toBe("relay");
        const urls = f.iceServers.flatMap((s) => s.urls);
        expect(urls.length).toBeGreaterThan(0);
        expect(urls.every((u) => /^turns?:/.test(u))).toBe(true);
        expect(f.iceServers.every((s) => s.username && s.credential)).toBe(true);
      }
      done(a!, b!);
    });

    it("relays offer, answer and candidates to the peer only", async () => {
      const [a, b, c, d] = await Promise.all(["a", "b", "c", "d"].map((n) => newUser(`sig-${n}`)));
      const [fa] = await pair(a!, b!);
      await pair(c!, d!);
      const seenC = record(c!.socket, "signal");
      const seenA = record(a!.socket, "signal");
      const offer = next(b!.socket, "signal");
      expect(await request(a!.socket, "signal", { sessionId: fa.sessionId, description: { type: "offer", sdp: "v=0 offer" } })).toEqual({ ok: true });
      expect(await offer).toEqual({ sessionId: fa.sessionId, description: { type: "offer", sdp: "v=0 offer" } });
      const answer = next(a!.socket, "signal");
      await request(b!.socket, "signal", { sessionId: fa.sessionId, description: { type: "answer", sdp: "v=0 answer" } });
      expect((await answer).description?.type).toBe("answer");
      const candidate = { candidate: "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", sdpMid: "0", sdpMLineIndex: 0 };
      const cand = next(b!.socket, "signal");
      await request(a!.socket, "signal", { sessionId: fa.sessionId, candidate });
      expect((await cand).candidate).toEqual(candidate);
      await sleep(100);
      expect(seenC).toHaveLength(0);
      expect(seenA).toHaveLength(1); // the answer only, never its own signals
      done(a!, b!, c!, d!);
    });

    it("delivers chat to the peer only, stores it, and relays typing", async () => {
      const [a, b, c, d] = await Promise.all(["a", "b", "c", "d"].map((n) => newUser(`chat-${n}`)));
      const [fa] = await pair(a!, b!);
      await pair(c!, d!);
      const seenOthers = [record(c!.socket, "chat:message"), record(d!.socket, "chat:message"), record(a!.socket, "chat:message")];
      const typing = next(b!.socket, "chat:typing");
      await request(a!.socket, "chat:typing", { sessionId: fa.sessionId, typing: true });
      expect(await typing).toEqual({ sessionId: fa.sessionId, typing: true });
      const got = next(b!.socket, "chat:message");
      const ack = await request(a!.socket, "chat:send", { sessionId: fa.sessionId, text: "  hello, bob  " });
      expect(ack.ok).toBe(true);
      const message = await got;
      expect(message).toMatchObject({ sessionId: fa.sessionId, from: a!.id, text: "hello, bob" });
      if (ack.ok) expect(message.id).toBe(ack.id);
      await sleep(100);
      expect(seenOthers.map((s) => s.length)).toEqual([0, 0, 0]);
      const kept = await deployment.store.listChatMessages(fa.sessionId);
      expect(kept).toEqual([{ id: message.id, sessionId: fa.sessionId, from: a!.id, text: "hello, bob", at: message.at }]);
      done(a!, b!, c!, d!);
    });

    it("call:end tells the peer `ended`; disconnect tells the peer `disconnected`; history shows both", async () => {
      const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => newUser(`end-${n}`)));
      const [fa] = await pair(a!, b!);
      const ended = next(b!.socket, "call:ended");
      expect(await request(a!.socket, "call:end", { sessionId: fa.sessionId })).toEqual({ ok: true });
      expect(await ended).toEqual({ sessionId: fa.sessionId, reason: "ended" });
      // The session is over: its members cannot signal into it any more.
      const late = await request(a!.socket, "signal", { sessionId: fa.sessionId, candidate: null });
      expect(late).toMatchObject({ ok: false, error: { code: "NOT_IN_SESSION" } });

      const [fb2] = await pair(b!, c!);
      const gone = next(c!.socket, "call:ended");
      b!.socket.disconnect();
      expect(await gone).toEqual({ sessionId: fb2.sessionId, reason: "disconnected" });

      // The disconnect's end is stored just after call:ended reaches the peer.
      let history = await api<SessionsResponse>(url(), "/api/sessions", { token: b!.token });
      await until(
        async () =>
          (history = await api<SessionsResponse>(url(), "/api/sessions", { token: b!.token })).body.sessions.some((s) => s.id === fb2.sessionId && s.endedAt),
        5000,
        () => `b's history: ${JSON.stringify(history.body)}`,
      );
      expect(history.status).toBe(200);
      const byId = new Map(history.body.sessions.map((s) => [s.id, s]));
      expect(byId.get(fa.sessionId)).toMatchObject({ peer: { id: a!.id }, endReason: "ended" });
      expect(byId.get(fb2.sessionId)).toMatchObject({ peer: { id: c!.id }, endReason: "disconnected" });
      expect(byId.get(fa.sessionId)?.endedAt).toBeTruthy();
      done(a!, c!);
    });

    it("both parties ending a call at once both get ok; the call ends once, and others still may not end it", async () => {
      const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => newUser(`both-${n}`)));
      const [fa] = await pair(a!, b!);
      const acks = await Promise.all([a!, b!].map((u) => request(u.socket, "call:end", { sessionId: fa.sessionId })));
      expect(acks).toEqual([{ ok: true }, { ok: true }]);
      // Again, later: still done, not an error, for either of its users.
      expect(await request(b!.socket, "call:end", { sessionId: fa.sessionId })).toEqual({ ok: true });
      // Not for a user who was not in it, nor for a session that does not exist.
      expect(await request(c!.socket, "call:end", { sessionId: fa.sessionId })).toMatchObject({ ok: false, error: { code: "NOT_IN_SESSION" } });
      expect(await request(a!.socket, "call:end", { sessionId: "no-such-session" })).toMatchObject({ ok: false, error: { code: "NOT_IN_SESSION" } });
      let stored = await deployment.store.getSession(fa.sessionId);
      await until(
        async () => !!(stored = await deployment.store.getSession(fa.sessionId))?.endedAt,
        5000,
        () => JSON.stringify(stored),
      );
      expect(stored).toMatchObject({ endReason: "ended" });
      // Both can join again at once.
      for (const u of [a!, b!]) expect(await request(u.socket, "lobby:join", {})).toMatchObject({ ok: true });
      done(a!, b!, c!);
    });

    it("accepts call:stats and reports from participants only", async () => {
      const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => newUser(`rep-${n}`)));
      const [fa] = await pair(a!, b!);
      const stats = { setupMs: 420, lossPct: 0.5, localCandidateType: "relay", transport: "udp" } satisfies CallStats;
      expect(await request(a!.socket, "call:stats", { sessionId: fa.sessionId, stats })).toEqual({ ok: true });
      expect(await request(c!.socket, "call:stats", { sessionId: fa.sessionId, stats })).toMatchObject({ ok: false, error: { code: "NOT_IN_SESSION" } });
      const report = await api<{ id: string }>(url(), "/api/reports", { token: b!.token, body: { sessionId: fa.sessionId, reason: "spam", details: "ads" } });
      expect(report.status).toBe(201);
      expect(report.body.id).toBeTruthy();
      const outsider = await api(url(), "/api/reports", { token: c!.token, body: { sessionId: fa.sessionId, reason: "spam" } });
      expect(outsider).toMatchObject({ status: 404, body: { error: { code: "NOT_FOUND" } } });
      // One report per reporter and call, whichever node takes it.
      const again = await api(url(), "/api/reports", { token: b!.token, body: { sessionId: fa.sessionId, reason: "harassment" } });
      expect(again).toMatchObject({ status: 409, body: { error: { code: "ALREADY_REPORTED" } } });
      expect(await deployment.store.listReports(fa.sessionId)).toHaveLength(1);
      done(a!, b!, c!);
    });

    it("limits reports, blocks and call:stats per user per minute, on all nodes together", async () => {
      const [a, b] = await Promise.all(["a", "b"].map((n) => newUser(`limit-${n}`)));
      const statuses = async (n: number, send: () => Promise<{ status: number }>) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push((await send()).status);
        return out;
      };
      // Reports: 5 a minute (sessions that do not exist count too).
      let n = 0;
      const reports = await statuses(6, () => api(url(), "/api/reports", { token: a!.token, body: { sessionId: `none-${n++}`, reason: "spam" } }));
      expect(reports).toEqual([404, 404, 404, 404, 404, 429]);
      // Blocks: 20 a minute; a user who does not exist cannot be blocked.
      expect(await api(url(), "/api/blocks", { token: a!.token, body: { userId: "no-such-user" } })).toMatchObject({
        status: 404,
        body: { error: { code: "NOT_FOUND" } },
      });
      const blocks = await statuses(20, () => api(url(), "/api/blocks", { token: a!.token, body: { userId: b!.id } }));
      expect(blocks).toEqual([...Array(19).fill(204), 429]);
      // call:stats: 60 a minute for the user, whichever of their sockets sends them.
      const second = await tab(a!);
      const results = await Promise.all(
        Array.from({ length: 61 }, (_, i) => request(i % 2 ? second : a!.socket, "call:stats", { sessionId: "none", stats: { rttMs: i } })),
      );
      const codes = results.map((r) => (r.ok ? "ok" : r.error.code));
      expect(codes.filter((c) => c === "NOT_IN_SESSION")).toHaveLength(60);
      expect(codes.filter((c) => c === "RATE_LIMITED")).toHaveLength(1);
      done(a!, b!);
      second.disconnect();
    });

    it("match:found carries the TURN user name that /api/ice gave the user in the same window", async () => {
      const [a, b] = await Promise.all(["a", "b"].map((n) => newUser(`turn-${n}`)));
      const before = Date.now();
      const ice = await api<IceResponse>(url(), "/api/ice", { token: a!.token });
      // User names carry an expiry in seconds: a second later, a fresh one would differ.
      await sleep(1100);
      const [fa] = await pair(a!, b!);
      // The deployments keep the default turn.ttlSeconds, 3600 s: the window may (rarely) have turned meanwhile.
      const windowOf = (ms: number) => Math.floor(ms / 1000 / 3600);
      const turn = (servers: IceResponse["iceServers"]) => servers.find((s) => s.username);
      if (windowOf(before) === windowOf(Date.now())) expect(turn(fa.iceServers)).toEqual(turn(ice.body.iceServers));
      else expect(turn(fa.iceServers)?.username).not.toBe(turn(ice.body.iceServers)?.username);
      done(a!, b!);
    });

    it("at most 3 sockets per user on all nodes together: the oldest is told why and closed", async () => {
      const a = await newUser("cap-a");
      const told = next(a.socket, "error");
      const closed = new Promise((resolve) => a.socket.once("disconnect", resolve));
      const others = [await tab(a), await tab(a)];
      await sleep(200);
      expect(a.socket.connected).toBe(true);
      others.push(await tab(a));
      expect(await told).toMatchObject({ code: "TOO_MANY_CONNECTIONS" });
      expect(await closed).toBe("io server disconnect");
      await sleep(200);
      expect(others.map((s) => s.connected)).toEqual([true, true, true]);
      // The newest sockets work: one joins the lobby.
      expect(await request(others[2]!, "lobby:join", {})).toMatchObject({ ok: true });
      others.forEach((s) => s.disconnect());
    });

    it("a second tab's lobby:join takes the first tab's place, and the first tab is told", async () => {
      const [a, b] = await Promise.all(["a", "b"].map((n) => newUser(`replace-${n}`)));
      await join(a!);
      const second = await tab(a!);
      const left = next(a!.socket, "lobby:left");
      const secondLeft = record(second, "lobby:left");
      expect(await request(second, "lobby:join", {})).toMatchObject({ ok: true });
      expect(await left).toEqual({ reason: "replaced" });
      const found = next(second, "match:found");
      await join(b!);
      expect((await found).peer.id).toBe(b!.id);
      expect(secondLeft).toEqual([]);
      done(a!, b!);
      second.disconnect();
    });

    it("refuses lobby:join while in a call", async () => {
      const [a, b] = await Promise.all(["a", "b"].map((n) => newUser(`busy-${n}`)));
      await pair(a!, b!);
      expect(await request(a!.socket, "lobby:join", {})).toMatchObject({ ok: false, error: { code: "ALREADY_IN_CALL" } });
      done(a!, b!);
    });

    it("a lobby:join sent the moment a call ends (call:ended, or the call:next / call:end ack) is accepted", async () => {
      // Cross-node on a cluster (users alternate between nodes); the web client joins this way.
      for (let round = 0; round < 8; round++) {
        const [a, b] = await Promise.all(["a", "b"].map((n) => newUser(`rejoin${round}-${n}`)));
        const [fa] = await pair(a!, b!);
        // Sent from the event handler itself: before the client reads anything else.
        const peerJoined = new Promise((resolve) => b!.socket.once("call:ended", () => resolve(request(b!.socket, "lobby:join", {}))));
        const ending = round % 2 ? "call:next" : "call:end";
        const ended =
          ending === "call:next" ? request(a!.socket, "call:next", { sessionId: fa.sessionId }) : request(a!.socket, "call:end", { sessionId: fa.sessionId });
        const callerJoined = ended.then((ack) => {
          expect(ack, `${ending} in round ${round}`).toMatchObject({ ok: true });
          return request(a!.socket, "lobby:join", {});
        });
        const [peer, caller] = await Promise.all([peerJoined, callerJoined]);
        expect({ round, ending, peer, caller }).toMatchObject({ peer: { ok: true }, caller: { ok: true } });
        done(a!, b!);
      }
    });

    it("a second tab of a waiting user closing keeps the user's place in the queue", async () => {
      const [a, b] = await Promise.all(["a", "b"].map((n) => newUser(`tabs-${n}`)));
      await join(a!);
      const tab = socketFor(url(), a!.token);
      await new Promise<void>((resolve, reject) => {
        tab.once("connect", resolve);
        tab.once("connect_error", reject);
      });
      const closed = next(a!.socket, "match:found", 5000);
      tab.disconnect();
      await sleep(300);
      await join(b!);
      expect((await closed).peer.id).toBe(b!.id);
      done(a!, b!);
    });

    it("lobby:leave from another tab of a waiting user leaves the waiting tab's place alone", async () => {
      const [a, b] = await Promise.all(["a", "b"].map((n) => newUser(`otherleave-${n}`)));
      await join(a!);
      const second = await tab(a!);
      expect(await request(second, "lobby:leave")).toEqual({ ok: true });
      const found = next(a!.socket, "match:found");
      await join(b!);
      expect((await found).peer.id).toBe(b!.id);
      done(a!, b!);
      second.disconnect();
    });

    it("lobby:leave takes a user out of the queue", async () => {
      const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => newUser(`leave-${n}`)));
      await join(a!);
      expect(await request(a!.socket, "lobby:leave")).toEqual({ ok: true });
      const fc = next(c!.socket, "match:found");
      await join(b!);
      await join(c!);
      expect((await fc).peer.id).toBe(b!.id);
      done(a!, b!, c!);
    });
  });
}
