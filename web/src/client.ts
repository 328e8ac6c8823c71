import { io, type Socket } from "socket.io-client";
import type {
  Ack,
  CallEnded,
  CallStats,
  ChatMessage,
  ChatTyping,
  ClientToServerEvents,
  ErrorBody,
  LobbyLeft,
  MatchFound,
  Peer,
  ReportReason,
  ServerToClientEvents,
  Signal,
  User,
} from "../../protocol/index.ts";
import { limits } from "../../protocol/limits.ts";
import { chatProblem, interestProblem, nicknameProblem, normaliseChat, normaliseNickname } from "../../protocol/text.ts";
import { ApiError, blockUser, guestLogin, sendReport } from "./api.ts";
import { PeerCall, type Route } from "./call.ts";
import { describeMediaError, listDevices, openMedia, stopStream, type MediaProblem } from "./media.ts";

export type Phase = "home" | "joining" | "waiting" | "call";
export type ServerLink = "idle" | "connecting" | "online" | "reconnecting";
export type Tone = "info" | "warn" | "error";

export interface Line {
  id: string;
  mine: boolean;
  text: string;
  at: string;
}

export interface State {
  phase: Phase;
  /** The one message the user should read now (peer left, server unreachable, ...). */
  notice: { tone: Tone; text: string } | null;
  link: ServerLink;
  me: User | null;
  /** `Date.now()` when the lobby accepted us. */
  waitingSince: number | null;
  call: {
    sessionId: string;
    peer: Peer;
    sharedInterests: string[];
    relayOnly: boolean;
    peerState: RTCPeerConnectionState;
    route: Route | null;
    /** False once negotiated without video from the peer (chat-only on their side). */
    peerCamera: boolean;
  } | null;
  remoteStream: MediaStream | null;
  lines: Line[];
  peerTyping: boolean;
  media: {
    stream: MediaStream | null;
    problem: MediaProblem | null;
    /** The user chose to go on without camera and microphone. */
    chatOnly: boolean;
    loading: boolean;
    micMuted: boolean;
    cameraOff: boolean;
    cameras: MediaDeviceInfo[];
    microphones: MediaDeviceInfo[];
    videoId?: string;
    audioId?: string;
  };
}

export interface StartOptions {
  nickname: string;
  interests: string[];
  relayOnly: boolean;
}

type VchatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const ackTimeoutMs = 8000;
const typingIdleMs = 3000;
const peerTypingMs = 6000;
const statsEveryMs = 1000;

export const unreachable = "Can't reach the vchat server. Check your internet connection; we keep trying.";
/** The server answered over HTTP but no WebSocket got through: the client has no other transport. */
export const websocketBlocked =
  "The vchat server answered, but its WebSocket connection was refused. A firewall, proxy or browser extension is blocking WebSockets; vchat needs them. Try another network or allow WebSockets for this site.";

/**
 * Everything the page does, outside React: the session with the server, the lobby, the call and
 * the local media. React components read `state` (via `subscribe`) and call the methods.
 */
export class VchatClient {
  state: State = {
    phase: "home",
    notice: null,
    link: "idle",
    me: null,
    waitingSince: null,
    call: null,
    remoteStream: null,
    lines: [],
    peerTyping: false,
    media: {
      stream: null,
      problem: null,
      chatOnly: false,
      loading: false,
      micMuted: false,
      cameraOff: false,
      cameras: [],
      microphones: [],
    },
  };

  private listeners = new Set<() => void>();
  private mediaRequest = 0;
  private socket: VchatSocket | null = null;
  private token: string | null = null;
  private signingIn: Promise<void> | null = null;
  private peerCall: PeerCall | null = null;
  private joinOptions: StartOptions | null = null;
  private everConnected = false;
  private statsTimer: ReturnType<typeof setInterval> | null = null;
  private firstFrameAt: number | null = null;
  private sentSetupStats = false;
  private typingSent = false;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private peerTypingTimer: ReturnType<typeof setTimeout> | null = null;

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getState = (): State => this.state;

  private set(patch: Partial<State>): void {
    this.state = { ...this.state, ...patch };
    this.listeners.forEach((fn) => fn());
  }

  private setMedia(patch: Partial<State["media"]>): void {
    this.set({ media: { ...this.state.media, ...patch } });
  }

  private setCall(patch: Partial<NonNullable<State["call"]>>): void {
    if (this.state.call) this.set({ call: { ...this.state.call, ...patch } });
  }

  private notify(tone: Tone, text: string): void {
    this.set({ notice: { tone, text } });
  }

  /** What the user last started with, to prefill the form when they come back to it. */
  get lastStart(): StartOptions | null {
    return this.joinOptions;
  }

  dismissNotice(): void {
    this.set({ notice: null });
  }

  // ---- local media ------------------------------------------------------------------

  async openMedia(): Promise<void> {
    const request = ++this.mediaRequest;
    this.setMedia({ loading: true, problem: null });
    try {
      const stream = await openMedia({ videoId: this.state.media.videoId, audioId: this.state.media.audioId });
      if (request !== this.mediaRequest) {
        // The user chose chat only (or asked again) while the browser was still asking.
        stopStream(stream);
        return;
      }
      const old = this.state.media.stream;
      if (old && old !== stream) stopStream(old);
      this.applyToggles(stream);
      // Device labels are only visible once permission is granted, so list them afterwards.
      const { cameras, microphones } = await listDevices();
      this.setMedia({
        stream,
        loading: false,
        chatOnly: false,
        cameras,
        microphones,
        videoId: stream.getVideoTracks()[0]?.getSettings().deviceId ?? this.state.media.videoId,
        audioId: stream.getAudioTracks()[0]?.getSettings().deviceId ?? this.state.media.audioId,
      });
      if (this.peerCall) for (const t of stream.getTracks()) await this.peerCall.replaceTrack(t);
    } catch (err) {
      if (request === this.mediaRequest) this.setMedia({ loading: false, problem: describeMediaError(err) });
    }
  }

  useChatOnly(): void {
    this.mediaRequest++;
    stopStream(this.state.media.stream);
    this.setMedia({ stream: null, chatOnly: true, loading: false });
  }

  async chooseDevice(kind: "video" | "audio", deviceId: string): Promise<void> {
    this.setMedia(kind === "video" ? { videoId: deviceId } : { audioId: deviceId });
    await this.openMedia();
  }

  toggleMic(): void {
    this.setMedia({ micMuted: !this.state.media.micMuted });
    this.applyToggles(this.state.media.stream);
  }

  toggleCamera(): void {
    this.setMedia({ cameraOff: !this.state.media.cameraOff });
    this.applyToggles(this.state.media.stream);
  }

  private applyToggles(stream: MediaStream | null): void {
    stream?.getAudioTracks().forEach((t) => (t.enabled = !this.state.media.micMuted));
    stream?.getVideoTracks().forEach((t) => (t.enabled = !this.state.media.cameraOff));
  }

  // ---- server session ---------------------------------------------------------------

  /**
   * Signs in unless already signed in under this nickname. One sign-in at a time: the socket's
   * own re-sign-in after a refused token and a Start press must not make two users of one person
   * (the second would replace the socket the first had just joined the lobby on).
   */
  private async login(nickname: string): Promise<void> {
    while (this.signingIn) await this.signingIn.catch(() => undefined);
    if (this.token && this.state.me && (!nickname || this.state.me.nickname === nickname)) return;
    this.signingIn = this.signIn(nickname).finally(() => (this.signingIn = null));
    await this.signingIn;
  }

  private async signIn(nickname: string): Promise<void> {
    const auth = await guestLogin(nickname || undefined);
    const old = this.socket;
    if (old && this.token && this.token !== auth.token) {
      // The server knows a socket by the token it connected with: a new name needs a new socket.
      old.removeAllListeners();
      old.disconnect();
      this.socket = null;
      this.everConnected = false;
    }
    this.token = auth.token;
    this.set({ me: auth.user });
  }

  /** Opens the Socket.IO session once; it then reconnects on its own after network drops. */
  private connect(): Promise<VchatSocket> {
    const existing = this.socket;
    if (existing?.connected) return Promise.resolve(existing);
    const socket =
      existing ??
      io({
        // WebSocket only: every node can serve every frame, so the load balancer needs no
        // stickiness (long-polling would spread one session's requests over nodes).
        transports: ["websocket"],
        // A function, so a reconnect after re-login carries the new token.
        auth: (cb) => cb({ token: this.token ?? "" }),
        reconnectionDelay: 500,
        reconnectionDelayMax: 4000,
        timeout: 8000,
      });
    if (!existing) {
      this.socket = socket;
      this.wire(socket);
    }
    this.set({ link: this.everConnected ? "reconnecting" : "connecting" });
    if (!socket.active) socket.connect();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        socket.off("connect", onConnect);
        socket.off("connect_error", onError);
      };
      const onConnect = () => {
        done();
        resolve(socket);
      };
      const onError = (err: Error) => {
        // A refused token is handled by signing in again (see wire()); wait for that connect.
        if (isAuthError(err)) return;
        done();
        reject(err);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error("timeout"));
      }, 10_000);
      socket.on("connect", onConnect);
      socket.on("connect_error", onError);
    });
  }

  private wire(socket: VchatSocket): void {
    socket.on("connect", () => {
      const again = this.everConnected;
      this.everConnected = true;
      this.set({ link: "online" });
      if (again) void this.afterReconnect(socket.recovered);
    });
    socket.on("disconnect", (reason) => {
      if (reason === "io client disconnect") return;
      if (reason === "io server disconnect") return this.closedByServer();
      this.set({ link: "reconnecting" });
      this.notify("warn", "Lost the connection to the server. Reconnecting…");
    });
    socket.on("connect_error", (err) => {
      if (isBanned(err)) {
        this.set({ phase: "home", waitingSince: null, link: "idle" });
        this.notify("error", err.message);
        return;
      }
      if (isAuthError(err)) {
        // The guest token expired or the server's secret changed: sign in again and retry.
        this.token = null;
        const nickname = this.joinOptions?.nickname ?? "";
        this.login(nickname)
          // Start may have connected (or replaced) the socket meanwhile.
          .then(() => this.socket === socket && !socket.active && socket.connect())
          .catch(() => this.notify("error", unreachable));
        return;
      }
      if (this.state.phase !== "home" || this.everConnected) {
        this.set({ link: "reconnecting" });
        this.notify("error", unreachable);
      }
    });
    socket.on("match:found", (m) => this.onMatch(m));
    socket.on("lobby:left", (l) => this.onLobbyLeft(l));
    socket.on("signal", (s) => this.onSignal(s));
    socket.on("chat:message", (m) => this.onChat(m));
    socket.on("chat:typing", (t) => this.onTyping(t));
    socket.on("call:ended", (e) => this.onEnded(e));
    socket.on("error", (e: ErrorBody) => this.notify("error", e.message));
    // The server closes this socket right after: its token ran out, or the account was banned
    // or deleted. A new sign-in on the next Start, except for a ban, which the user is shown.
    socket.on("auth:revoked", (r) => {
      if (this.state.phase === "call") this.endCallLocally();
      if (r.reason !== "banned") this.token = null;
      this.set({ phase: "home", waitingSince: null });
      this.notify(r.reason === "banned" ? "error" : "info", r.reason === "banned" ? r.message : "Your session ended. Press Start to continue.");
    });
  }

  /**
   * The server closed the connection on purpose (`auth:revoked`, too many tabs, too many events):
   * it said why just before, which stays on screen. The socket does not reconnect by itself;
   * Start connects again.
   */
  private closedByServer(): void {
    if (this.state.phase === "call") this.endCallLocally();
    this.set({ phase: "home", waitingSince: null, link: "idle" });
  }

  private async afterReconnect(recovered: boolean): Promise<void> {
    if (recovered) {
      this.notify("info", "Reconnected to the server.");
      return;
    }
    // A new server session: the lobby place and the call's signaling are gone.
    if (this.state.phase === "call") {
      this.endCallLocally();
      this.notify("warn", "The connection to the server dropped and your chat ended. Reconnected — looking for someone new…");
      await this.join();
    } else if (this.state.phase === "waiting" || this.state.phase === "joining") {
      this.notify("info", "Reconnected to the server. Still looking for someone…");
      await this.join();
    } else {
      this.notify("info", "Reconnected to the server.");
    }
  }

  private async emit<E extends keyof ClientToServerEvents, T extends object>(event: E, ...args: unknown[]): Promise<Ack<T>> {
    const socket = this.socket;
    if (!socket?.connected) return { ok: false, error: { code: "UNAVAILABLE", message: unreachable } };
    try {
      // The typed overloads of emitWithAck do not follow optional acks; the event map types the payloads.
      return await (
        socket.timeout(ackTimeoutMs) as unknown as {
          emitWithAck(ev: string, ...a: unknown[]): Promise<Ack<T>>;
        }
      ).emitWithAck(event, ...args);
    } catch {
      return { ok: false, error: { code: "UNAVAILABLE", message: "The server did not answer in time." } };
    }
  }

  // ---- lobby ------------------------------------------------------------------------

  async start(opts: StartOptions): Promise<void> {
    if (this.state.phase !== "home") return;
    const interests = opts.interests
      .map((i) => i.trim().toLowerCase().slice(0, limits.interestMax))
      .filter(Boolean)
      .slice(0, limits.interestsMax);
    const nickname = normaliseNickname(opts.nickname).slice(0, limits.nicknameMax);
    const problem = nickname ? nicknameProblem(nickname) : null;
    if (problem) {
      this.notify("error", `That nickname ${problem}.`);
      return;
    }
    const badInterest = interests.find((i) => interestProblem(i));
    if (badInterest !== undefined) {
      this.notify("error", `The interest "${badInterest}" ${interestProblem(badInterest)}.`);
      return;
    }
    this.joinOptions = { ...opts, nickname, interests };
    this.set({ phase: "joining", notice: null });
    try {
      await this.login(this.joinOptions.nickname);
    } catch (err) {
      this.set({ phase: "home" });
      if (err instanceof ApiError && err.code !== "NETWORK" && err.code !== "INTERNAL") this.notify("error", err.message);
      else this.notify("error", unreachable);
      return;
    }
    try {
      await this.connect();
    } catch (err) {
      this.set({ phase: "home" });
      // The sign-in just reached the server over HTTP: a WebSocket that fails now is blocked on the way.
      this.notify("error", isTransportError(err) ? websocketBlocked : unreachable);
      return;
    }
    // Stop may have been pressed while we were signing in.
    if ((this.state.phase as Phase) === "joining") await this.join();
  }

  private async join(): Promise<void> {
    const opts = this.joinOptions;
    if (!opts) return;
    this.set({ phase: "waiting", waitingSince: Date.now() });
    const payload = {
      ...(opts.interests.length ? { interests: opts.interests } : {}),
      ...(opts.relayOnly ? { relayOnly: true } : {}),
    };
    let res = await this.emit<"lobby:join", { waitingSince: string }>("lobby:join", payload);
    // Right after a call ends the server may still be taking us out of it; give it a moment.
    for (let i = 0; i < 3 && !res.ok && res.error.code === "ALREADY_IN_CALL" && this.state.phase === "waiting"; i++) {
      await new Promise((r) => setTimeout(r, 300));
      res = await this.emit<"lobby:join", { waitingSince: string }>("lobby:join", payload);
    }
    if (!res.ok) return this.joinFailed(res.error);
    this.setWaitingSince(res.waitingSince);
  }

  /** The same user started looking for someone in another tab, which took this tab's place. */
  private onLobbyLeft(l: LobbyLeft): void {
    if (this.state.phase !== "waiting" && this.state.phase !== "joining") return;
    this.set({ phase: "home", waitingSince: null });
    if (l.reason === "replaced") this.notify("warn", "You started looking for someone in another tab or window, so this one stopped.");
  }

  private joinFailed(error: ErrorBody): void {
    // A match may already have arrived while the ack was pending.
    if (this.state.phase !== "waiting") return;
    this.set({ phase: "home", waitingSince: null });
    this.notify("error", error.code === "UNAVAILABLE" ? unreachable : error.message);
  }

  private setWaitingSince(iso: string): void {
    if (this.state.phase !== "waiting") return;
    const t = Date.parse(iso);
    // Server clocks drift; never show a wait that starts in the future.
    if (Number.isFinite(t)) this.set({ waitingSince: Math.min(Date.now(), t) });
  }

  /** Leaves the lobby or the call and goes back to the start screen. */
  async stop(): Promise<void> {
    const { phase, call } = this.state;
    if (phase === "call" && call) {
      await this.sendStats(true);
      this.endCallLocally();
      this.set({ phase: "home", waitingSince: null });
      this.notify("info", "You left the chat.");
      await this.emit("call:end", { sessionId: call.sessionId });
    } else if (phase === "waiting" || phase === "joining") {
      this.set({ phase: "home", waitingSince: null });
      await this.emit("lobby:leave");
    }
  }

  /** Ends this call and goes straight back to the lobby. */
  async next(): Promise<void> {
    const call = this.state.call;
    if (this.state.phase !== "call" || !call) return;
    await this.sendStats(true);
    this.endCallLocally();
    this.set({ phase: "waiting", waitingSince: Date.now(), notice: null });
    const res = await this.emit<"call:next", { waitingSince: string }>("call:next", { sessionId: call.sessionId });
    if (res.ok) this.setWaitingSince(res.waitingSince);
    else if (res.error.code === "NOT_IN_SESSION") await this.join();
    else this.joinFailed(res.error);
  }

  // ---- the call ---------------------------------------------------------------------

  private onMatch(m: MatchFound): void {
    if (this.state.phase !== "waiting") {
      // Stop was pressed while the match was on its way: tell the server we are gone.
      void this.emit("call:end", { sessionId: m.sessionId });
      return;
    }
    const relayOnly = this.joinOptions?.relayOnly ?? false;
    this.firstFrameAt = null;
    this.sentSetupStats = false;
    const call = new PeerCall({
      match: m,
      relayOnly,
      local: this.state.media.chatOnly ? null : this.state.media.stream,
      sendSignal: (s) => void this.emit("signal", { sessionId: m.sessionId, ...s }),
      onRemoteStream: (stream) => this.set({ remoteStream: stream }),
      onStateChange: (s) => this.onPeerState(s),
    });
    this.peerCall = call;
    this.set({
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
        relayOnly: call.relayPolicy,
        peerState: "new",
        route: null,
        peerCamera: true,
      },
    });
    this.statsTimer = setInterval(() => void this.pollStats(), statsEveryMs);
    call.start().catch(() => this.notify("error", "The call could not be set up. Press Next to try someone else."));
  }

  private onPeerState(s: RTCPeerConnectionState): void {
    this.setCall({ peerState: s });
    if (s === "disconnected") this.notify("warn", "The connection to your partner is unstable…");
    else if (s === "failed") this.notify("error", "The connection to your partner failed. Press Next to try someone else.");
    else if (s === "connected" && this.state.notice?.text.startsWith("The connection to your partner")) this.dismissNotice();
  }

  private async pollStats(): Promise<void> {
    const call = this.peerCall;
    if (!call) return;
    const { route, stats } = await call.stats();
    if (call !== this.peerCall) return;
    const peerCamera = call.remoteSendsVideo();
    if (this.state.call && peerCamera !== this.state.call.peerCamera) this.setCall({ peerCamera });
    const prev = this.state.call?.route;
    if (route && (prev?.kind !== route.kind || prev.local !== route.local || prev.remote !== route.remote)) this.setCall({ route });
    if (this.firstFrameAt === null && (stats.framesDecoded ?? 0) > 0) this.firstFrameAt = performance.now();
    // Set up means a path is chosen and the first frame is in (or none will come: chat-only peer).
    if (!this.sentSetupStats && route && (this.firstFrameAt !== null || !peerCamera)) {
      this.sentSetupStats = true;
      await this.sendStats(false);
    }
  }

  /** Reports the call's quality to the server, once set up and once at the end. */
  /** Resolves once the numbers are read (before the call is closed); the send is not awaited. */
  private async sendStats(final: boolean): Promise<void> {
    const call = this.peerCall;
    if (!call) return;
    try {
      const { stats } = await call.stats();
      const out: CallStats = { ...stats };
      if (this.firstFrameAt !== null) out.firstMediaMs = Math.round(this.firstFrameAt - call.startedAt);
      if (final && call.connectedAt === null) out.failure = `never connected (${call.pc.connectionState})`;
      // Best effort: Next and Stop must not wait for the server's answer.
      void this.emit("call:stats", { sessionId: call.sessionId, stats: out });
    } catch {
      // getStats() fails on a closed connection; the call matters more than its numbers.
    }
  }

  private onSignal(s: Signal): void {
    const call = this.peerCall;
    if (!call || call.sessionId !== s.sessionId) return;
    call.handleSignal(s).catch(() => this.notify("error", "The call could not be set up. Press Next to try someone else."));
  }

  private onEnded(e: CallEnded): void {
    const call = this.state.call;
    if (!call || call.sessionId !== e.sessionId) return;
    const name = call.peer.nickname;
    this.endCallLocally();
    if (e.reason === "next") {
      this.notify("info", `${name} moved on. Looking for someone new…`);
      void this.join();
      return;
    }
    this.set({ phase: "home", waitingSince: null });
    const text: Record<CallEnded["reason"], string> = {
      next: "",
      ended: `${name} left the chat. Press Start to meet someone new.`,
      disconnected: `${name} disconnected. Press Start to meet someone new.`,
      blocked: "The chat has ended. Press Start to meet someone new.",
      "server-shutdown": "The server is restarting. Press Start again in a moment.",
      "server-restart": "The server restarted. Press Start again.",
    };
    this.notify(e.reason === "server-shutdown" ? "warn" : "info", text[e.reason] ?? `The chat ended (${e.reason}).`);
  }

  private endCallLocally(): void {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
    this.peerCall?.close();
    this.peerCall = null;
    if (this.typingTimer) clearTimeout(this.typingTimer);
    if (this.peerTypingTimer) clearTimeout(this.peerTypingTimer);
    this.typingSent = false;
    this.set({ call: null, remoteStream: null, peerTyping: false });
  }

  // ---- chat -------------------------------------------------------------------------

  async sendChat(text: string): Promise<boolean> {
    const call = this.state.call;
    const trimmed = normaliseChat(text).slice(0, limits.chatTextMax);
    if (!call || !trimmed) return false;
    const problem = chatProblem(trimmed);
    if (problem) {
      this.notify("error", `Message not sent: it ${problem}.`);
      return false;
    }
    this.stopTyping();
    const res = await this.emit<"chat:send", { id: string; at: string }>("chat:send", { sessionId: call.sessionId, text: trimmed });
    if (!res.ok) {
      this.notify("error", `Message not sent: ${res.error.message}`);
      return false;
    }
    this.addLine({ id: res.id, mine: true, text: trimmed, at: res.at });
    return true;
  }

  /** Call on every keystroke in the message box; sends typing on/off sparingly. */
  typing(): void {
    const call = this.state.call;
    if (!call) return;
    if (!this.typingSent) {
      this.typingSent = true;
      void this.emit("chat:typing", { sessionId: call.sessionId, typing: true });
    }
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), typingIdleMs);
  }

  private stopTyping(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = null;
    const call = this.state.call;
    if (this.typingSent && call) void this.emit("chat:typing", { sessionId: call.sessionId, typing: false });
    this.typingSent = false;
  }

  private onChat(m: ChatMessage): void {
    const call = this.state.call;
    if (!call || m.sessionId !== call.sessionId) return;
    this.addLine({ id: m.id, mine: m.from === this.state.me?.id, text: m.text, at: m.at });
    if (m.from !== this.state.me?.id) this.set({ peerTyping: false });
  }

  private addLine(line: Line): void {
    // The sender learns its message both from the ack and (on some servers) an echo.
    if (this.state.lines.some((l) => l.id === line.id)) return;
    this.set({ lines: [...this.state.lines, line].slice(-200) });
  }

  private onTyping(t: ChatTyping): void {
    if (t.sessionId !== this.state.call?.sessionId) return;
    if (this.peerTypingTimer) clearTimeout(this.peerTypingTimer);
    // A lost "typing: false" must not leave the indicator on forever.
    if (t.typing) this.peerTypingTimer = setTimeout(() => this.set({ peerTyping: false }), peerTypingMs);
    this.set({ peerTyping: t.typing });
  }

  // ---- safety -----------------------------------------------------------------------

  async report(reason: ReportReason, details: string): Promise<boolean> {
    const call = this.state.call;
    if (!call || !this.token) return false;
    try {
      await sendReport(this.token, call.sessionId, reason, details.trim() || undefined);
      this.notify("info", "Thank you. Your report was sent to the moderators.");
      return true;
    } catch (err) {
      this.notify("error", err instanceof ApiError && err.code !== "NETWORK" ? `Report not sent: ${err.message}` : unreachable);
      return false;
    }
  }

  async block(): Promise<void> {
    const call = this.state.call;
    if (!call || !this.token) return;
    try {
      await blockUser(this.token, call.peer.id);
    } catch (err) {
      this.notify("error", err instanceof ApiError && err.code !== "NETWORK" ? `Block failed: ${err.message}` : unreachable);
      return;
    }
    await this.next();
    this.notify("info", `You blocked ${call.peer.nickname}; you won't be matched again. Looking for someone new…`);
  }

  dispose(): void {
    this.endCallLocally();
    this.socket?.disconnect();
    stopStream(this.state.media.stream);
  }
}

function isBanned(err: Error): boolean {
  return (err as Error & { data?: { code?: string } }).data?.code === "BANNED";
}

function isAuthError(err: Error): boolean {
  return (err as Error & { data?: { code?: string } }).data?.code === "UNAUTHENTICATED";
}

/** socket.io-client's connect_error when the transport itself failed (here: the WebSocket). */
function isTransportError(err: unknown): boolean {
  return (err as { type?: string } | null)?.type === "TransportError";
}
