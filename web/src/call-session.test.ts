import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CallStats, MatchFound, Signal } from "../../protocol/index.ts";
import type { PeerCallOptions, Route } from "./call.ts";
import { CallSession, type CallPeer } from "./call-session.ts";
import { Chat } from "./chat.ts";
import { Lobby } from "./lobby.ts";
import { connectTo, startTestServer, until, type TestServer } from "./testing/server.ts";

/**
 * A peer connection without WebRTC (Node has none): it records what the session asks of it and
 * reports the route and counters the test sets. The real `PeerCall` runs in the browser tests.
 */
class FakePeer implements CallPeer {
  readonly sessionId: string;
  readonly relayPolicy: boolean;
  readonly startedAt = performance.now();
  connectedAt: number | null = null;
  connectionState: RTCPeerConnectionState = "new";
  route: Route | null = null;
  stats_: CallStats = {};
  sendsVideo = true;
  signals: Signal[] = [];
  closed = false;
  readonly opts: PeerCallOptions;

  constructor(opts: PeerCallOptions) {
    this.opts = opts;
    this.sessionId = opts.match.sessionId;
    this.relayPolicy = opts.relayOnly || opts.match.iceTransportPolicy === "relay";
  }
  async start() {
    if (this.opts.match.role === "offerer") this.opts.sendSignal({ description: { type: "offer", sdp: "v=0 offer" } });
  }
  async handleSignal(s: Signal) {
    this.signals.push(s);
  }
  async stats() {
    return { route: this.route, stats: { ...this.stats_ } };
  }
  remoteSendsVideo() {
    return this.sendsVideo;
  }
  async replaceTrack() {}
  close() {
    this.closed = true;
  }
}

const match: MatchFound = {
  sessionId: "s1",
  role: "offerer",
  peer: { id: "peer", nickname: "Grace" },
  iceServers: [],
  iceTransportPolicy: "all",
  sharedInterests: ["chess"],
};

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(() => server.close());

/** A user waiting in the lobby, whose calls get fake peers. */
async function waiting() {
  const { store, connection } = connectTo(server);
  const lobby = new Lobby(store, connection);
  const peers: FakePeer[] = [];
  const session = new CallSession({
    store,
    connection,
    lobby,
    chat: new Chat(store, connection),
    makePeer: (o) => {
      const p = new FakePeer(o);
      peers.push(p);
      return p;
    },
  });
  await lobby.start({ nickname: "ada", interests: ["chess"], relayOnly: true });
  const socket = await server.socket();
  return { store, connection, session, peers, socket, done: () => (session.endLocally(), connection.dispose()) };
}

describe("CallSession: from match to end", () => {
  it("starts the call on a match and carries signals both ways for this session only", async () => {
    const { store, peers, socket, done } = await waiting();
    socket.emit("match:found", match);
    await until(() => store.get().phase === "call", "the call");
    expect(store.get().call).toEqual({
      sessionId: "s1",
      peer: { id: "peer", nickname: "Grace" },
      sharedInterests: ["chess"],
      // The user asked to hide their IP, whatever the server said.
      relayOnly: true,
      peerState: "new",
      route: null,
      peerCamera: true,
    });
    expect(store.get().waitingSince).toBeNull();
    await until(() => server.sent("signal").length === 1, "the offer");
    expect(server.sent("signal")).toEqual([{ sessionId: "s1", description: { type: "offer", sdp: "v=0 offer" } }]);
    socket.emit("signal", { sessionId: "other", candidate: { candidate: "x" } });
    socket.emit("signal", { sessionId: "s1", description: { type: "answer", sdp: "v=0 answer" } });
    await until(() => peers[0]!.signals.length === 1, "the answer");
    expect(peers[0]!.signals).toEqual([{ sessionId: "s1", description: { type: "answer", sdp: "v=0 answer" } }]);
    done();
  });

  it("turns down a match that arrives after Stop", async () => {
    const { connection, store, socket } = await waiting();
    store.set({ phase: "home" });
    socket.emit("match:found", match);
    await until(() => server.sent("call:end").length === 1, "call:end");
    expect(server.sent("call:end")).toEqual([{ sessionId: "s1" }]);
    expect(store.get().phase).toBe("home");
    connection.dispose();
  });

  it("shows the route and sends the setup stats once a path is chosen and a frame is in", async () => {
    const { store, peers, socket, done } = await waiting();
    socket.emit("match:found", match);
    await until(() => peers.length === 1, "the peer");
    const peer = peers[0]!;
    peer.route = { kind: "relayed", local: "relay", remote: "relay", protocol: "udp" };
    peer.stats_ = { framesDecoded: 3, setupMs: 120 };
    await until(() => server.sent("call:stats").length === 1, "the setup stats", 4000);
    expect(store.get().call?.route).toEqual(peer.route);
    expect(server.sent("call:stats")[0]).toMatchObject({ sessionId: "s1", stats: { framesDecoded: 3, setupMs: 120 } });
    expect((server.sent("call:stats")[0] as { stats: CallStats }).stats.firstMediaMs).toBeGreaterThanOrEqual(0);
    done();
  });

  it("shows a peer without camera once negotiated, and the state of the connection to them", async () => {
    const { store, peers, socket, done } = await waiting();
    socket.emit("match:found", match);
    await until(() => peers.length === 1, "the peer");
    peers[0]!.sendsVideo = false;
    await until(() => store.get().call?.peerCamera === false, "no camera", 4000);
    peers[0]!.opts.onStateChange("failed");
    expect(store.get().call?.peerState).toBe("failed");
    expect(store.get().notice).toEqual({ tone: "error", text: "The connection to your partner failed. Press Next to try someone else." });
    peers[0]!.opts.onStateChange("connected");
    expect(store.get().notice).toBeNull();
    done();
  });

  it("Next sends the final stats, ends the call and waits again from the server's time", async () => {
    const { store, session, peers, socket, done } = await waiting();
    socket.emit("match:found", match);
    await until(() => peers.length === 1, "the peer");
    const at = new Date(Date.now() - 1000).toISOString();
    server.answers["call:next"] = () => ({ ok: true, waitingSince: at });
    await session.next();
    expect(peers[0]!.closed).toBe(true);
    expect(store.get()).toMatchObject({ phase: "waiting", call: null, waitingSince: Date.parse(at) });
    expect(server.sent("call:stats")).toEqual([{ sessionId: "s1", stats: { failure: "never connected (new)" } }]);
    expect(server.sent("call:next")).toEqual([{ sessionId: "s1" }]);
    done();
  });

  it("Next joins the lobby itself when the server had already ended the call", async () => {
    const { store, session, peers, socket, done } = await waiting();
    socket.emit("match:found", match);
    await until(() => peers.length === 1, "the peer");
    server.answers["call:next"] = () => ({ ok: false, error: { code: "NOT_IN_SESSION", message: "No such call." } });
    await session.next();
    expect(server.sent("lobby:join")).toHaveLength(2);
    expect(store.get().phase).toBe("waiting");
    done();
  });

  it("Stop ends the call, tells the server and goes home", async () => {
    const { store, session, peers, socket, done } = await waiting();
    socket.emit("match:found", match);
    await until(() => peers.length === 1, "the peer");
    await session.stop();
    expect(store.get()).toMatchObject({ phase: "home", call: null, notice: { tone: "info", text: "You left the chat." } });
    expect(server.sent("call:end")).toEqual([{ sessionId: "s1" }]);
    expect(peers[0]!.closed).toBe(true);
    done();
  });

  it("when the peer moves on, joins the lobby again by itself, at once", async () => {
    const { store, peers, socket, done } = await waiting();
    socket.emit("match:found", match);
    await until(() => peers.length === 1, "the peer");
    socket.emit("call:ended", { sessionId: "s1", reason: "next" });
    await until(() => server.sent("lobby:join").length === 2, "the new join");
    expect(store.get()).toMatchObject({ phase: "waiting", call: null, notice: { tone: "info", text: "Grace moved on. Looking for someone new…" } });
    done();
  });

  it("goes home and says why when the call ends otherwise; an old session's end is ignored", async () => {
    const { store, peers, socket, done } = await waiting();
    socket.emit("match:found", match);
    await until(() => peers.length === 1, "the peer");
    socket.emit("call:ended", { sessionId: "old", reason: "ended" });
    socket.emit("call:ended", { sessionId: "s1", reason: "disconnected" });
    await until(() => store.get().phase === "home", "the end");
    expect(store.get()).toMatchObject({ call: null, notice: { tone: "info", text: "Grace disconnected. Press Start to meet someone new." } });
    expect(server.sent("lobby:join")).toHaveLength(1);
    done();
  });
});
