/**
 * One bot user: guest login, `GET /api/ice`, Socket.IO, `lobby:join`, and for each
 * `match:found` a `BotPeer` negotiating as the role says. Each finished call becomes a
 * `CallLeg`, and its `call:stats` goes to the server.
 */
import { io } from "socket.io-client";
import {
  request,
  restClient,
  RestError,
  send,
  type CallStats,
  type ClientEvent,
  type ClientSocket,
  type MatchFound,
  type Reply,
  type RestInput,
  type RestOutput,
  type RouteName,
  type Signal,
} from "../protocol/index.ts";
import { now } from "./clock.ts";
import { rewriteTurnUrls } from "./ice.ts";
import type { Pacer, VideoFrames } from "./media.ts";
import type { StreamWindow } from "./metrics.ts";
import type { LoopMonitor } from "./overload.ts";
import { BotPeer, type PeerResult } from "./peer.ts";
import { peerLeg } from "./report.ts";
import type { BotConfig, CallLeg } from "./types.ts";

export type BotState = "starting" | "waiting" | "connecting" | "up" | "stopped";

/** An error from the server or the network, with the stable code when the server gave one. */
export class BotError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "BotError";
    this.code = code;
  }
}

interface ActiveCall {
  match: MatchFound;
  matchedAt: number;
  joinToMatchMs: number | null;
  peer: BotPeer;
  churnTimer: NodeJS.Timeout | null;
  /** Set once the call started ending: the run's stop waits for it, so the leg is counted. */
  ending: Promise<void> | null;
}

export interface BotDeps {
  pacer: Pacer;
  loop?: LoopMonitor;
  vp8Frames?: () => VideoFrames;
  onLeg: (leg: CallLeg) => void;
  onError: (err: Error) => void;
}

/** A failed REST call in words that name the route (the server's own messages do not). */
export function restFailure(err: RestError): string {
  return err.message.includes(err.path) ? err.message : `${err.path}: ${err.message}`;
}

type NotConnected = { ok: false; error: { code: "UNAVAILABLE"; message: string } };

/** With `churnMs`, the answerer waits this much longer than the offerer before moving on itself. */
const answererChurnGraceMs = 3000;

/** Pause before joining again after a failed call, so a broken TURN does not spin the lobby. */
const rejoinAfterFailureMs = 1000;

export class Bot {
  readonly name: string;
  state: BotState = "starting";
  userId: string | null = null;
  private readonly cfg: BotConfig;
  private readonly deps: BotDeps;
  private socket: ClientSocket | null = null;
  private call: ActiveCall | null = null;
  private joinedAt: number | null = null;
  private running = false;
  private rejoinTimer: NodeJS.Timeout | null = null;

  constructor(cfg: BotConfig, index: number, deps: BotDeps) {
    this.cfg = cfg;
    this.deps = deps;
    this.name = `${cfg.nickname}${index}`;
  }

  /** Logs in, checks the ICE endpoint, connects and joins the lobby. */
  async start(): Promise<void> {
    this.running = true;
    const base = this.cfg.url.replace(/\/+$/, "");
    const auth = await this.rest(base, undefined, "guest", { nickname: this.name });
    this.userId = auth.user.id;
    // The same call a browser makes before joining: a broken /api/ice must show here.
    await this.rest(base, auth.token, "ice", undefined);
    if (!this.running) return;

    const socket: ClientSocket = io(base, { auth: { token: auth.token }, transports: ["websocket"], reconnection: false, timeout: 10_000 });
    this.socket = socket;
    socket.on("match:found", (m) => void this.onMatch(m));
    socket.on("signal", (s) => void this.onSignal(s));
    socket.on("call:ended", (e) => {
      if (this.call?.match.sessionId === e.sessionId) void this.endCall(`peer-${e.reason}`, "none");
    });
    socket.on("error", (e) => this.deps.onError(new BotError(e.code, e.message)));
    socket.on("disconnect", (reason) => {
      if (this.running) this.deps.onError(new BotError("DISCONNECTED", `${this.name}: signaling disconnected (${reason})`));
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", (err) => reject(new BotError("UNAVAILABLE", `signaling: ${err.message}`)));
    });
    await this.join();
  }

  private async rest<N extends RouteName>(base: string, token: string | undefined, route: N, input: RestInput<N>): Promise<RestOutput<N>> {
    try {
      return await restClient({ baseUrl: base, token }).call(route, input);
    } catch (err) {
      throw err instanceof RestError ? new BotError(err.code, restFailure(err)) : err;
    }
  }

  /** A request on the socket, or UNAVAILABLE at once when it is not connected. */
  private ask<E extends ClientEvent>(call: (socket: ClientSocket) => Promise<Reply<E>>): Promise<Reply<E> | NotConnected> {
    const socket = this.socket;
    return socket?.connected ? call(socket) : Promise.resolve({ ok: false, error: { code: "UNAVAILABLE", message: "not connected" } });
  }

  private async join(): Promise<void> {
    if (!this.running) return;
    this.state = "waiting";
    this.joinedAt = now();
    const ack = await this.ask((s) =>
      request(s, "lobby:join", {
        ...(this.cfg.interests.length ? { interests: this.cfg.interests } : {}),
        relayOnly: this.cfg.relay === "only",
      }),
    );
    if (!ack.ok) this.deps.onError(new BotError(ack.error.code, `lobby:join: ${ack.error.message}`));
  }

  private async onMatch(m: MatchFound): Promise<void> {
    if (!this.running || this.call) return;
    const matchedAt = now();
    this.state = "connecting";
    const servers = rewriteTurnUrls(m.iceServers, this.cfg.turnRewrites);
    const relay = this.cfg.relay;
    const peer = new BotPeer({
      role: m.role,
      iceServers: relay === "never" ? servers.filter((s) => ![s.urls].flat().some((u) => /^turns?:/i.test(u))) : servers,
      iceTransportPolicy: relay === "only" ? "relay" : relay === "never" ? "all" : m.iceTransportPolicy,
      turnTransport: this.cfg.turnTransport,
      media: this.cfg.media,
      rtpPath: this.cfg.rtpPath,
      dataChannel: this.cfg.dataChannel,
      bitrateKbps: this.cfg.bitrateKbps,
      pacer: this.deps.pacer,
      vp8Frames: this.deps.vp8Frames,
      matchedAt,
      connectTimeoutMs: this.cfg.connectTimeoutMs,
      runId: this.cfg.runId,
      drainMs: this.cfg.drainMs,
      mediaStoppedMs: this.cfg.mediaStoppedMs,
      loop: this.deps.loop,
      sendSignal: (s) => this.socket && send(this.socket, "signal", { sessionId: m.sessionId, ...s }),
    });
    const call: ActiveCall = {
      match: m,
      matchedAt,
      joinToMatchMs: this.joinedAt === null ? null : Math.round((matchedAt - this.joinedAt) * 10) / 10,
      peer,
      churnTimer: null,
      ending: null,
    };
    this.call = call;
    void peer.settled.then((ok) => {
      if (this.call !== call || call.ending) return;
      if (!ok) return void this.endCall("failed", "end");
      this.state = "up";
      // The offerer moves on; the answerer only if it was not told first (a browser offerer, or a
      // lost call:ended), so two bots of one call do not both send call:next and one get an error.
      const churn = this.cfg.churnMs === null ? null : this.cfg.churnMs + (m.role === "answerer" ? answererChurnGraceMs : 0);
      if (churn !== null) call.churnTimer = setTimeout(() => void this.endCall("self-next", "next"), churn);
    });
    await peer.start().catch((err) => this.deps.onError(err as Error));
  }

  private async onSignal(s: Signal): Promise<void> {
    if (this.call?.match.sessionId === s.sessionId) await this.call.peer.onSignal(s);
  }

  /**
   * Ends the current call: measures, tells the server (`call:next`, `call:end` or nothing when
   * the peer already ended it), sends `call:stats`, and joins again while the run goes on.
   */
  private endCall(end: string, tell: "next" | "end" | "none"): Promise<void> {
    const call = this.call;
    if (!call) return Promise.resolve();
    // A partner's bye can land just as the run stops: both end the same call, and the stop
    // must wait for the leg the bye is still measuring (it was lost from the report before).
    call.ending ??= this.finishCall(call, end, tell);
    return call.ending;
  }

  private async finishCall(call: ActiveCall, end: string, tell: "next" | "end" | "none"): Promise<void> {
    if (call.churnTimer) clearTimeout(call.churnTimer);
    const result = await call.peer.close();
    const leg = this.toLeg(call, result, end);
    this.call = null;
    this.deps.onLeg(leg);
    const sessionId = call.match.sessionId;
    // Stats first: they are accepted during or after the call, and a `next` re-queues at once.
    const stats = await this.ask((s) => request(s, "call:stats", { sessionId, stats: toCallStats(leg) }));
    if (!stats.ok && this.running) this.deps.onError(new BotError(stats.error.code, `call:stats: ${stats.error.message}`));
    if (tell === "next" && this.running) {
      this.state = "waiting";
      this.joinedAt = now();
      const ack = await this.ask((s) => request(s, "call:next", { sessionId }));
      if (!ack.ok) this.deps.onError(new BotError(ack.error.code, `call:next: ${ack.error.message}`));
      return;
    }
    if (tell !== "none") await this.ask((s) => request(s, "call:end", { sessionId }));
    if (!this.running) return;
    this.state = "waiting";
    if (end === "failed") this.rejoinTimer = setTimeout(() => void this.join(), rejoinAfterFailureMs);
    else await this.join();
  }

  private toLeg(call: ActiveCall, r: PeerResult, end: string): CallLeg {
    return peerLeg(r, {
      sessionId: call.match.sessionId,
      bot: this.name,
      userId: this.userId,
      peerId: call.match.peer.id,
      joinToMatchMs: call.joinToMatchMs,
      end,
      nack: this.cfg.media === "vp8",
    });
  }

  /** Ends the current call (its leg counts, stats are sent) and leaves. */
  async stop(): Promise<void> {
    if (!this.running && this.state === "stopped") return;
    this.running = false;
    if (this.rejoinTimer) clearTimeout(this.rejoinTimer);
    if (this.call) await this.endCall("run-end", "end");
    else if (this.socket?.connected) await this.ask((s) => request(s, "lobby:leave"));
    this.socket?.disconnect();
    this.state = "stopped";
  }

  /** The call in progress once connected: its session, setup so far and last second's media. */
  liveCall(): { sessionId: string; setupMs: number | null; audio: StreamWindow; video: StreamWindow } | null {
    if (this.state !== "up" || !this.call) return null;
    return { sessionId: this.call.match.sessionId, ...this.call.peer.live() };
  }

  /** Live packet counts of the call in progress. */
  liveLoss(): { lost: number; expected: number } {
    return this.call?.peer.liveLoss() ?? { lost: 0, expected: 0 };
  }
}

/** The `call:stats` payload for a leg: the protocol's known fields. */
export function toCallStats(leg: CallLeg): CallStats {
  const stats: CallStats = {};
  const put = <K extends keyof CallStats>(k: K, v: CallStats[K] | null | undefined) => {
    if (v !== null && v !== undefined) stats[k] = v;
  };
  put("setupMs", leg.firstMediaMs ?? undefined);
  put("iceMs", leg.iceMs ?? undefined);
  put("dtlsMs", leg.dtlsMs ?? undefined);
  put("firstMediaMs", leg.firstMediaMs ?? undefined);
  const types = ["host", "srflx", "prflx", "relay"] as const;
  const asType = (t: string | null) => ((types as readonly string[]).includes(t ?? "") ? (t as (typeof types)[number]) : undefined);
  put("localCandidateType", asType(leg.localCandidateType));
  put("remoteCandidateType", asType(leg.remoteCandidateType));
  put("transport", leg.transport === "udp" || leg.transport === "tcp" || leg.transport === "tls" ? leg.transport : undefined);
  put("lossPct", leg.lossPct === null ? undefined : Math.min(100, leg.lossPct));
  put("jitterMs", leg.jitterMs ?? undefined);
  put("oneWayDelayMs", leg.oneWayDelayMs ?? undefined);
  // The service's RTT, as the web client reports its ICE pair's: the echo when there is a data channel, else RTCP's.
  put("rttMs", leg.rttMs ?? leg.rtcpRttMs ?? undefined);
  put("bitrateKbps", leg.payloadKbps ?? undefined);
  put("freezes", leg.freezes);
  put("packetsLost", leg.packetsLost);
  put("packetsReceived", leg.received.audio + leg.received.video);
  put("framesDecoded", leg.framesReceived);
  if (leg.failure) put("failure", leg.failure.slice(0, 200));
  return stats;
}
