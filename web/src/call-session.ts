import type { CallEnded, CallStats, MatchFound, Signal } from "../../protocol/index.ts";
import { PeerCall, type PeerCallOptions } from "./call.ts";
import type { Chat } from "./chat.ts";
import type { Connection } from "./connection.ts";
import type { Lobby } from "./lobby.ts";
import type { Store } from "./store.ts";

const statsEveryMs = 1000;
const setupFailed = "The call could not be set up. Press Next to try someone else.";

/** What a call session needs of a `PeerCall` (the unit tests give it one without WebRTC). */
export type CallPeer = Pick<
  PeerCall,
  | "sessionId"
  | "relayPolicy"
  | "startedAt"
  | "connectedAt"
  | "connectionState"
  | "start"
  | "handleSignal"
  | "stats"
  | "remoteSendsVideo"
  | "replaceTrack"
  | "close"
>;

export interface CallSessionOptions {
  store: Store;
  connection: Connection;
  lobby: Lobby;
  chat: Chat;
  /** @default a browser `PeerCall` */
  makePeer?: (opts: PeerCallOptions) => CallPeer;
}

/**
 * The call from match to end: the peer connection, the signals both ways, the route and quality
 * read every second (and sent as `call:stats`), Next, Stop and every way a call ends.
 */
export class CallSession {
  private readonly store: Store;
  private readonly connection: Connection;
  private readonly lobby: Lobby;
  private readonly chat: Chat;
  private readonly makePeer: (opts: PeerCallOptions) => CallPeer;
  private peer: CallPeer | null = null;
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private firstFrameAt: number | null = null;
  private sentSetupStats = false;

  constructor(opts: CallSessionOptions) {
    this.store = opts.store;
    this.connection = opts.connection;
    this.lobby = opts.lobby;
    this.chat = opts.chat;
    this.makePeer = opts.makePeer ?? ((o) => new PeerCall(o));
    this.connection.on("match:found", (m) => this.onMatch(m));
    this.connection.on("signal", (s) => this.onSignal(s));
    this.connection.on("call:ended", (e) => this.onEnded(e));
  }

  /** Uses a new camera or microphone in the running call, if any. */
  async replaceTrack(track: MediaStreamTrack): Promise<void> {
    await this.peer?.replaceTrack(track);
  }

  /** Leaves the call and goes back to the start screen. */
  async stop(): Promise<void> {
    const { phase, call } = this.store.get();
    if (phase !== "call" || !call) return;
    await this.sendStats(true);
    this.endLocally();
    this.store.set({ phase: "home", waitingSince: null });
    this.store.notify("info", "You left the chat.");
    await this.connection.request("call:end", { sessionId: call.sessionId });
  }

  /** Ends this call and goes straight back to the lobby. */
  async next(): Promise<void> {
    const { phase, call } = this.store.get();
    if (phase !== "call" || !call) return;
    await this.sendStats(true);
    this.endLocally();
    this.store.set({ phase: "waiting", waitingSince: Date.now(), notice: null });
    const res = await this.connection.request("call:next", { sessionId: call.sessionId });
    if (res.ok) this.lobby.accepted(res.waitingSince);
    else if (res.error.code === "NOT_IN_SESSION") await this.lobby.join();
    else this.lobby.refused(res.error);
  }

  /** Closes our side of the call without telling the server (it ended, or ends, on its side). */
  endLocally(): void {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    this.peer?.close();
    this.peer = null;
    this.chat.reset();
    this.store.set({ call: null, remoteStream: null, peerTyping: false });
  }

  private onMatch(m: MatchFound): void {
    const { store } = this;
    if (store.get().phase !== "waiting") {
      // Stop was pressed while the match was on its way: tell the server we are gone.
      void this.connection.request("call:end", { sessionId: m.sessionId });
      return;
    }
    const { media } = store.get();
    this.firstFrameAt = null;
    this.sentSetupStats = false;
    const peer = this.makePeer({
      match: m,
      relayOnly: this.lobby.lastStart?.relayOnly ?? false,
      local: media.chatOnly ? null : media.stream,
      sendSignal: (s) => void this.connection.request("signal", { sessionId: m.sessionId, ...s }),
      onRemoteStream: (stream) => store.set({ remoteStream: stream }),
      onStateChange: (s) => this.onPeerState(s),
    });
    this.peer = peer;
    store.set({
      phase: "call",
      waitingSince: null,
      notice: null,
      lines: [],
      peerTyping: false,
      remoteStream: null,
      call: {
        sessionId: m.sessionId,
        peer: m.peer,
        sharedInterests: m.sharedInterests,
        relayOnly: peer.relayPolicy,
        peerState: "new",
        route: null,
        peerCamera: true,
      },
    });
    this.statsTimer = setInterval(() => void this.pollStats(), statsEveryMs);
    peer.start().catch(() => store.notify("error", setupFailed));
  }

  private onPeerState(s: RTCPeerConnectionState): void {
    const { store } = this;
    store.setCall({ peerState: s });
    if (s === "disconnected") store.notify("warn", "The connection to your partner is unstable…");
    else if (s === "failed") store.notify("error", "The connection to your partner failed. Press Next to try someone else.");
    else if (s === "connected" && store.get().notice?.text.startsWith("The connection to your partner")) store.dismissNotice();
  }

  private async pollStats(): Promise<void> {
    const peer = this.peer;
    if (!peer) return;
    const { route, stats } = await peer.stats();
    if (peer !== this.peer) return;
    const call = this.store.get().call;
    const peerCamera = peer.remoteSendsVideo();
    if (call && peerCamera !== call.peerCamera) this.store.setCall({ peerCamera });
    const prev = call?.route;
    if (route && (prev?.kind !== route.kind || prev.local !== route.local || prev.remote !== route.remote)) this.store.setCall({ route });
    if (this.firstFrameAt === null && (stats.framesDecoded ?? 0) > 0) this.firstFrameAt = performance.now();
    // Set up means a path is chosen and the first frame is in (or none will come: chat-only peer).
    if (!this.sentSetupStats && route && (this.firstFrameAt !== null || !peerCamera)) {
      this.sentSetupStats = true;
      await this.sendStats(false);
    }
  }

  /**
   * Reports the call's quality to the server, once set up and once at the end. Resolves once the
   * numbers are read (before the call is closed); the send is not awaited.
   */
  private async sendStats(final: boolean): Promise<void> {
    const peer = this.peer;
    if (!peer) return;
    try {
      const { stats } = await peer.stats();
      const out: CallStats = { ...stats };
      if (this.firstFrameAt !== null) out.firstMediaMs = Math.round(this.firstFrameAt - peer.startedAt);
      if (final && peer.connectedAt === null) out.failure = `never connected (${peer.connectionState})`;
      // Best effort: Next and Stop must not wait for the server's answer.
      void this.connection.request("call:stats", { sessionId: peer.sessionId, stats: out });
    } catch {
      // getStats() fails on a closed connection; the call matters more than its numbers.
    }
  }

  private onSignal(s: Signal): void {
    const peer = this.peer;
    if (!peer || peer.sessionId !== s.sessionId) return;
    peer.handleSignal(s).catch(() => this.store.notify("error", setupFailed));
  }

  private onEnded(e: CallEnded): void {
    const call = this.store.get().call;
    if (!call || call.sessionId !== e.sessionId) return;
    const name = call.peer.nickname;
    this.endLocally();
    if (e.reason === "next") {
      this.store.notify("info", `${name} moved on. Looking for someone new…`);
      void this.lobby.join();
      return;
    }
    this.store.set({ phase: "home", waitingSince: null });
    const text: Record<CallEnded["reason"], string> = {
      next: "",
      ended: `${name} left the chat. Press Start to meet someone new.`,
      disconnected: `${name} disconnected. Press Start to meet someone new.`,
      blocked: "The chat has ended. Press Start to meet someone new.",
      "server-shutdown": "The server is restarting. Press Start again in a moment.",
      "server-restart": "The server restarted. Press Start again.",
    };
    this.store.notify(e.reason === "server-shutdown" ? "warn" : "info", text[e.reason] ?? `The chat ended (${e.reason}).`);
  }
}
