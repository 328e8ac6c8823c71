/**
 * One side of one call: a werift `RTCPeerConnection` that negotiates as its role says, trickles
 * ICE through whatever signaling the caller gives it, sends media on an audio and a video track
 * (and, when asked, pings over a data channel), and measures what a user would feel.
 */
import {
  classes,
  Message,
  methods,
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  type RTCDataChannel,
} from "werift";
import type { Candidate, Description, IceServer, Role } from "../protocol/index.ts";
import { now } from "./clock.ts";
import { guardSrtp, type IntegrityCounts } from "./integrity.ts";
import { MediaReceiver, MediaSender, measureExtId, newRunId, measureExtUri, type MediaKind, type Pacer, type VideoFrames } from "./media.ts";
import { percentile, type StreamSnapshot, type StreamWindow } from "./metrics.ts";
import type { LoopMonitor } from "./overload.ts";
import { pickTurnUrl, stunUrlOf, type TurnTransport } from "./ice.ts";
import { RtpPath } from "./rtp-path.ts";
import { diagnoseTurn } from "./turn-check.ts";

export type { TurnTransport } from "./ice.ts";

export interface PeerOptions {
  role: Role;
  iceServers: IceServer[];
  iceTransportPolicy: "all" | "relay";
  /** Which TURN URL of `iceServers` to use (werift uses one TURN server). @default "udp" */
  turnTransport?: TurnTransport;
  media: MediaKind;
  /** Synthetic media on the bots' own RTP path, or on werift's tracks. @default "bots" */
  rtpPath?: "bots" | "werift";
  bitrateKbps: number;
  pacer: Pacer;
  /** Makes the VP8 frame source (only for `media: "vp8"`). */
  vp8Frames?: () => VideoFrames;
  /** Hands a local description or candidate to signaling. */
  sendSignal: (signal: { description?: Description; candidate?: Candidate }) => void;
  /** Time the call was matched (ms, `now()`); setup timings count from it. */
  matchedAt?: number;
  /** Give up connecting after this long. @default 20000 */
  connectTimeoutMs?: number;
  /**
   * The offerer opens a data channel and both ends ping over it (`rttMs`: the echo through both
   * event loops). The web client opens none, so by default neither does a bot: SCTP and DTLS
   * through werift cost a bot about 5 % of its CPU, for traffic real users do not make.
   * @default false
   */
  dataChannel?: boolean;
  /**
   * Period of the RTT samples: the RTCP round trip, and the data-channel ping when there is
   * one. Each ping and echo costs a bot more CPU than a second of its RTP receive statistics
   * (SCTP and DTLS through werift), so not every second. @default 5000
   */
  pingIntervalMs?: number;
  /** The run's id, written in every packet; packets of other runs are not measured. @default a new one */
  runId?: number;
  /**
   * On hang-up, how long to keep receiving after both senders were told to stop, so packets
   * still in flight count as received, not lost. @default 500
   */
  drainMs?: number;
  /** A direction silent this long in a connected call fails it (`media-stopped`). @default 3000 */
  mediaStoppedMs?: number;
  /** This thread's event-loop monitor: a leg whose thread stalled is flagged. */
  loop?: LoopMonitor;
}

/** Why a connected call still failed: a direction went silent. */
export const mediaStoppedReason = "media-stopped";

/** What one bot measured in one call. Times are ms from `matchedAt`. */
export interface PeerResult {
  role: Role;
  connected: boolean;
  iceMs: number | null;
  dtlsMs: number | null;
  firstMediaMs: number | null;
  localCandidateType: string | null;
  remoteCandidateType: string | null;
  /** Transport between this bot and its first hop: the TURN transport when relayed. */
  transport: string | null;
  /** Which RTP path carried the media: `bots` (`rtp-path.ts`), `bots (after ICE)` (TCP), or `werift (why)`. */
  mediaPath: string;
  audio: StreamSnapshot;
  video: StreamSnapshot;
  /** Packets from a partner that is not a bot (no measuring fields). */
  foreignPackets: number;
  /** Packets of another run, not measured. */
  otherRunPackets: number;
  /** Data-channel echo (through both event loops): median, ms; null without `dataChannel`. */
  rttMs: number | null;
  /** RTCP round trip (sender report → receiver report, RFC 3550 §6.4.1): median of samples, ms. */
  rtcpRttMs: number | null;
  /** Packets this bot sent per stream: its partner's expected counts. */
  sent: { audio: number; video: number };
  /** SRTP packets dropped for failing authentication or as replays (never media received). */
  integrity: IntegrityCounts;
  /** Longest silence of the partner's media while connected (start and end of the call included), ms. */
  mediaGapMs: number | null;
  /** Connected time (DTLS up → hang-up), s: the denominator of bitrates and rates. */
  connectedSeconds: number;
  /** Time this bot's thread was stalled during the call (event-loop lags ≥ 20 ms), ms. */
  hostStalledMs: number | null;
  packetsSent: number;
  bytesSent: number;
  /** Seconds of media received. */
  mediaSeconds: number;
  failure: string | null;
}

/** No relay candidate this long after negotiation started: ask the TURN server why. */
const relayCheckAfterMs = 4000;

/** The codecs bots offer. No NACK on synthetic media: a loss must stay a loss to be measured. */
function codecs(media: MediaKind) {
  const videoFeedback = media === "vp8" ? [{ type: "nack" }, { type: "nack", parameter: "pli" }] : [];
  return {
    audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111, rtcpFeedback: [] })],
    video: [new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000, payloadType: 96, rtcpFeedback: videoFeedback })],
  };
}

export class BotPeer {
  readonly pc: RTCPeerConnection;
  private readonly opts: PeerOptions;
  private readonly matchedAt: number;
  private readonly receiver: MediaReceiver;
  private readonly sender: MediaSender;
  private readonly integrity: IntegrityCounts = { corrupt: 0, replayed: 0, corruptRtcp: 0, replayedRtcp: 0 };
  private readonly rtcpRtts: number[] = [];
  private rtcpSeen = { total: 0, n: 0 };
  private sending = false;
  private endAt: number | null = null;
  /** When the partner said it hangs up (RTCP BYE, or the data channel), if it did first. */
  private byeAt: number | null = null;
  private stalledAtStart = 0;
  private closing: Promise<PeerResult> | null = null;
  private readonly audioTrack = new MediaStreamTrack({ kind: "audio" });
  private readonly videoTrack = new MediaStreamTrack({ kind: "video" });
  private channel: RTCDataChannel | null = null;
  private pingTimer: Repeating | null = null;
  private rtcpTimer: Repeating | null = null;
  private connectTimer: NodeJS.Timeout | null = null;
  private readonly rtts: number[] = [];
  private iceAt: number | null = null;
  private dtlsAt: number | null = null;
  private firstMediaAt: number | null = null;
  private failure: string | null = null;
  private closed = false;
  private pendingCandidates: Candidate[] = [];
  private gatheredTypes = new Set<string>();
  private relayTimer: NodeJS.Timeout | null = null;
  private relayChecking = false;
  private mediaPath = "werift";
  private selected: { local: string | null; remote: string | null; protocol: string | null } | null = null;
  /** Resolves once the call connected (true) or failed (false). */
  readonly settled: Promise<boolean>;
  private settle!: (ok: boolean) => void;

  constructor(opts: PeerOptions) {
    this.opts = opts;
    this.matchedAt = opts.matchedAt ?? now();
    this.settled = new Promise((r) => (this.settle = r));
    const picked = pickTurnUrl(opts.iceServers, opts.turnTransport ?? "udp");
    // Relay-only gathers no reflexive candidate, so it needs no STUN server. A bot told to reach
    // TURN over TCP or TLS may sit where UDP is blocked, and werift holds its candidates back
    // until a silent STUN server times out (5 s): there, only a configured STUN URL is used.
    const stun = opts.iceTransportPolicy === "relay" ? null : stunUrlOf(opts.iceServers, { fromTurn: (opts.turnTransport ?? "udp") === "udp" });
    this.pc = new RTCPeerConnection({
      // Always explicit: werift's default is a public STUN server. werift uses one STUN and one
      // TURN URL, so the TURN URL is the one of the asked transport.
      iceServers: [...(stun ? [{ urls: stun }] : []), ...(picked ? [picked.server] : [])],
      iceTransportPolicy: opts.iceTransportPolicy,
      // One transport for audio, video and data: one TURN allocation per bot, as browsers do.
      bundlePolicy: "max-bundle",
      codecs: codecs(opts.media),
      headerExtensions:
        opts.media === "vp8"
          ? {
              audio: [new RTCRtpHeaderExtensionParameters({ id: measureExtId, uri: measureExtUri })],
              video: [new RTCRtpHeaderExtensionParameters({ id: measureExtId, uri: measureExtUri })],
            }
          : {},
    });
    const runId = opts.runId ?? newRunId();
    this.receiver = new MediaReceiver(runId);
    this.sender = new MediaSender({
      runId,
      audio: this.audioTrack,
      video: this.videoTrack,
      kind: opts.media,
      bitrateKbps: opts.bitrateKbps,
      frames: opts.media === "vp8" ? opts.vp8Frames?.() : undefined,
    });
    this.receiver.onFirstPacket = () => {
      this.firstMediaAt = now();
    };
    this.wire();
    // Both roles: the answerer may never see an offer when the offerer's TURN fails the same way.
    this.armRelayCheck();
  }

  private wire(): void {
    const pc = this.pc;
    pc.onIceCandidate.subscribe((c) => {
      if (this.closed) return;
      if (c) this.gatheredTypes.add(c.candidate.split(" ")[7] ?? "");
      // `null` is end-of-candidates.
      this.opts.sendSignal({ candidate: c ? c.toJSON() : null });
    });
    pc.iceConnectionStateChange.subscribe((state) => {
      if ((state === "connected" || state === "completed") && this.iceAt === null) this.iceAt = now();
    });
    pc.connectionStateChange.subscribe((state) => {
      if (state === "connected" && this.dtlsAt === null) {
        this.dtlsAt = now();
        this.onConnected();
      } else if (state === "failed") {
        void this.fail("ICE failed: no candidate pair worked");
      }
    });
    pc.onTrack.subscribe((track) => {
      const kind = track.kind === "audio" ? "audio" : "video";
      track.onReceiveRtp.subscribe((rtp) => this.receiver.onRtp(kind, rtp));
    });
    pc.onDataChannel.subscribe((dc) => this.useChannel(dc));
    pc.iceGatheringStateChange.subscribe((state) => {
      if (state === "complete") void this.checkRelay(true);
    });
    this.connectTimer = setTimeout(() => {
      void this.fail(`not connected within ${(this.opts.connectTimeoutMs ?? 20000) / 1000} s (ICE ${pc.iceConnectionState}, connection ${pc.connectionState})`);
    }, this.opts.connectTimeoutMs ?? 20000);
  }

  /**
   * Relay-only without a relay candidate can never connect: say why as soon as we can, not at
   * the connect timeout. `final` is gathering complete (werift took its time); otherwise this
   * runs a few seconds into negotiation and only fails the call when the server says no.
   */
  private async checkRelay(final: boolean): Promise<void> {
    if (this.opts.iceTransportPolicy !== "relay" || this.gatheredTypes.has("relay") || this.closed || this.dtlsAt !== null || this.failure) return;
    if (this.relayChecking) return;
    const picked = pickTurnUrl(this.opts.iceServers, this.opts.turnTransport ?? "udp");
    if (!picked) return void this.fail(`relay-only but no ${this.opts.turnTransport ?? "udp"} TURN URL in the ICE configuration`);
    this.relayChecking = true;
    const verdict = await diagnoseTurn(picked.url, picked.server.username ?? "", picked.server.credential ?? "");
    this.relayChecking = false;
    if (this.gatheredTypes.has("relay")) return;
    if (!verdict.ok && (verdict.answered || final)) await this.fail(`no relay candidate: ${verdict.reason}`);
    else if (final) await this.fail(`no relay candidate although ${verdict.reason}`);
  }

  private armRelayCheck(): void {
    if (this.opts.iceTransportPolicy !== "relay" || this.relayTimer) return;
    this.relayTimer = setTimeout(() => void this.checkRelay(false), relayCheckAfterMs);
  }

  /** Starts negotiating: the offerer creates the offer; the answerer waits for it. */
  async start(): Promise<void> {
    if (this.opts.role !== "offerer") return;
    this.pc.addTransceiver(this.audioTrack, { direction: "sendrecv" });
    this.pc.addTransceiver(this.videoTrack, { direction: "sendrecv" });
    if (this.opts.dataChannel) this.useChannel(this.pc.createDataChannel("rtt", { ordered: true }));
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.opts.sendSignal({ description: { type: "offer", sdp: this.pc.localDescription!.sdp } });
  }

  /** A description or candidate from the partner. */
  async onSignal(signal: { description?: Description; candidate?: Candidate }): Promise<void> {
    if (this.closed) return;
    try {
      if (signal.description) {
        await this.pc.setRemoteDescription(signal.description);
        if (signal.description.type === "offer") {
          if (this.opts.media === "vp8" && !signal.description.sdp.includes(measureExtUri)) {
            // A partner that is not a bot (a browser) did not offer our measuring extension.
            // werift 0.25 then answers with its configured extensions anyway, on an id the offer
            // may use for another one, and Chromium refuses the answer ("RTP extension ID
            // reassignment not supported"): answer without it and stop writing it.
            this.pc.config.headerExtensions = { audio: [], video: [] };
            this.sender.measureInHeader = false;
          }
          this.pc.addTrack(this.audioTrack);
          this.pc.addTrack(this.videoTrack);
          const answer = await this.pc.createAnswer();
          await this.pc.setLocalDescription(answer);
          this.opts.sendSignal({ description: { type: "answer", sdp: this.pc.localDescription!.sdp } });
        }
        const queued = this.pendingCandidates;
        this.pendingCandidates = [];
        for (const c of queued) await this.addCandidate(c);
      }
      if (signal.candidate !== undefined) {
        // Candidates can outrun the description they belong to.
        if (!this.pc.remoteDescription) this.pendingCandidates.push(signal.candidate);
        else await this.addCandidate(signal.candidate);
      }
    } catch (err) {
      await this.fail(`negotiation failed: ${(err as Error).message}`);
    }
  }

  private async addCandidate(c: Candidate): Promise<void> {
    if (c === null || !c.candidate) return; // end-of-candidates: werift needs no marker
    await this.pc.addIceCandidate(c);
  }

  private useChannel(dc: RTCDataChannel): void {
    this.channel = dc;
    dc.onMessage.subscribe((msg) => {
      const text = msg.toString();
      if (text === "b:") this.partnerLeft();
      else if (text.startsWith("p:")) {
        if (dc.readyState === "open") dc.send("e:" + text.slice(2));
      } else if (text.startsWith("e:")) {
        const sent = Number(text.slice(2));
        if (Number.isFinite(sent)) this.rtts.push(now() - sent);
      }
    });
    // The first ping a second after the channel opens (a short call still gets its RTT; at once,
    // the partner's end may not be open to answer yet), then one per period.
    const startPings = () => {
      if (this.pingTimer || this.closed) return;
      this.pingTimer = every(1000, this.opts.pingIntervalMs ?? 5000, () => {
        if (dc.readyState === "open") dc.send("p:" + now());
      });
    };
    if (dc.readyState === "open") startPings();
    else dc.stateChanged.subscribe((s) => s === "open" && startPings());
  }

  private onConnected(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.closing) return;
    guardSrtp(this.pc, this.integrity);
    if (this.opts.media === "synthetic" && this.opts.rtpPath !== "werift") this.useRtpPath();
    this.stalledAtStart = this.opts.loop?.stalledMs ?? 0;
    this.sender.start();
    this.sending = true;
    this.opts.pacer.add(this.sender);
    // RTCP round trips, averaged per period: the first sample a second after the call is up.
    this.rtcpTimer = every(1000, this.opts.pingIntervalMs ?? 5000, () => this.sampleRtcpRtt());
    // PLI from the partner: the VP8 source jumps to a keyframe.
    for (const t of this.pc.getTransceivers()) {
      t.sender.onPictureLossIndication.subscribe(() => this.sender.requestKeyframe());
    }
    void this.readSelectedPair();
    this.settle(true);
  }

  /**
   * Synthetic media on the bots' own RTP path (`rtp-path.ts`): a fraction of werift's per-packet
   * CPU. Falls back to werift's tracks, saying why in `mediaPath`, when the path cannot attach.
   */
  private useRtpPath(): void {
    const path = RtpPath.attach(this.pc, this.integrity);
    if (typeof path === "string") {
      this.mediaPath = `werift (${path})`;
      return;
    }
    path.onRtp = (kind, rtp) => this.receiver.onMedia(kind ?? "video", rtp.payload, rtp.timestamp, rtp.marker);
    path.onBye = () => this.partnerLeft();
    this.sender.rtpPath = path;
    // Over TURN/TCP the stream's framing stays werift's: RTP is sent and taken at ICE level.
    this.mediaPath = path.below ? "bots" : "bots (after ICE)";
  }

  private async readSelectedPair(): Promise<void> {
    try {
      const report = await this.pc.getStats();
      const all = [...report.values()] as unknown as Array<Record<string, unknown>>;
      const pair = all.find((s) => s.type === "candidate-pair" && s.nominated) ?? all.find((s) => s.type === "candidate-pair" && s.state === "succeeded");
      if (!pair) return;
      const local = all.find((s) => s.id === pair.localCandidateId);
      const remote = all.find((s) => s.id === pair.remoteCandidateId);
      const localType = (local?.candidateType as string) ?? null;
      this.selected = {
        local: localType,
        remote: (remote?.candidateType as string) ?? null,
        protocol: localType === "relay" ? (this.opts.turnTransport ?? "udp") : ((local?.protocol as string) ?? null),
      };
    } catch {
      // Stats are best effort; the call's media figures do not depend on them.
    }
  }

  private async fail(reason: string): Promise<void> {
    if (this.failure || this.dtlsAt !== null || this.closed) return;
    this.failure = reason;
    this.settle(false);
  }

  /** The partner hung up: its media ends here, which is where this leg's call ends too. */
  private partnerLeft(): void {
    this.byeAt ??= now();
    this.stopSending();
  }

  /** Stops this bot's media (hang-up, or the partner said bye); the counts sent stay. */
  private stopSending(): void {
    if (!this.sending) return;
    this.sending = false;
    this.opts.pacer.delete(this.sender);
  }

  /**
   * The RTCP round trip (RFC 3550 §6.4.1): the bots' own reports on their RTP path, else
   * werift's of each sender (`totalRoundTripTime` over `roundTripTimeMeasurements`). The new
   * measurements since the last sample, averaged.
   */
  private sampleRtcpRtt(): void {
    let total = 0;
    let n = 0;
    if (this.sender.rtpPath) {
      total = this.sender.rtpPath.roundTrips.totalMs / 1000;
      n = this.sender.rtpPath.roundTrips.n;
    } else
      for (const t of this.pc.getTransceivers()) {
        const s = t.sender as unknown as { totalRoundTripTime?: number; roundTripTimeMeasurements?: number };
        total += s.totalRoundTripTime ?? 0;
        n += s.roundTripTimeMeasurements ?? 0;
      }
    if (n > this.rtcpSeen.n) this.rtcpRtts.push((1000 * (total - this.rtcpSeen.total)) / (n - this.rtcpSeen.n));
    this.rtcpSeen = { total, n };
  }

  /** Lost and expected packets so far, cheap enough for a live dashboard. */
  liveLoss(): { lost: number; expected: number } {
    const a = this.receiver.audio.counts();
    const v = this.receiver.video.counts();
    return { lost: a.lost + v.lost, expected: a.expected + v.expected };
  }

  /** match → first media so far (null before it), and the media since the last call: the live feed's second. */
  live(): { setupMs: number | null; audio: StreamWindow; video: StreamWindow } {
    return {
      setupMs: this.firstMediaAt === null ? null : Math.round((this.firstMediaAt - this.matchedAt) * 10) / 10,
      audio: this.receiver.audio.window(),
      video: this.receiver.video.window(),
    };
  }

  get isConnected(): boolean {
    return this.dtlsAt !== null;
  }

  get failed(): string | null {
    return this.failure;
  }

  /** The measurements so far, without closing. */
  result(): PeerResult {
    const since = (t: number | null) => (t === null ? null : Math.round((t - this.matchedAt) * 10) / 10);
    // The call's end for this leg: its own hang-up, or the partner's bye if that came first.
    const end = Math.min(this.endAt ?? now(), this.byeAt ?? Infinity);
    const audio = this.receiver.audio.snapshot(end);
    const video = this.receiver.video.snapshot(end);
    const sorted = (v: number[]) => [...v].sort((a, b) => a - b);
    const rtts = sorted(this.rtts);
    const up = this.dtlsAt;
    // Silence at the start (from connected), between packets, and at the end (to hang-up).
    // Any media counts here, a browser partner's too.
    const first = this.receiver.firstAt;
    const last = this.receiver.lastPacketAt;
    const mediaGapMs = up === null ? null : first === null || last === null ? end - up : Math.max(this.receiver.maxGapMs, first - up, end - last);
    const stoppedAfter = this.opts.mediaStoppedMs ?? 3000;
    let failure = up === null ? (this.failure ?? "call ended before it connected") : null;
    if (up !== null && mediaGapMs !== null && mediaGapMs > stoppedAfter) {
      failure = `${mediaStoppedReason}: no media from the partner for ${(mediaGapMs / 1000).toFixed(1)} s (limit ${stoppedAfter / 1000} s)`;
    }
    return {
      role: this.opts.role,
      connected: up !== null,
      iceMs: since(this.iceAt),
      dtlsMs: since(up),
      firstMediaMs: since(this.firstMediaAt),
      localCandidateType: this.selected?.local ?? null,
      remoteCandidateType: this.selected?.remote ?? null,
      transport: this.selected?.protocol ?? null,
      mediaPath: this.mediaPath,
      audio,
      video,
      foreignPackets: this.receiver.foreignPackets,
      otherRunPackets: this.receiver.otherRunPackets,
      rttMs: percentile(rtts, 50),
      rtcpRttMs: percentile(sorted(this.rtcpRtts), 50),
      sent: this.sender.sent(),
      integrity: { ...this.integrity },
      mediaGapMs: mediaGapMs === null ? null : Math.round(mediaGapMs),
      connectedSeconds: up === null ? 0 : Math.max(0, end - up) / 1000,
      hostStalledMs: up === null || !this.opts.loop ? null : Math.round(this.opts.loop.stalledMs - this.stalledAtStart),
      packetsSent: this.sender.packetsSent,
      bytesSent: this.sender.bytesSent,
      mediaSeconds: first !== null && last !== null && last > first ? (last - first) / 1000 : 0,
      failure,
    };
  }

  /**
   * Hangs up: tells the partner to stop sending (RTCP BYE, data channel), stops its own media, keeps
   * receiving for `drainMs` so packets in flight are not counted lost, then closes the
   * connection and returns what was measured.
   */
  close(): Promise<PeerResult> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<PeerResult> {
    if (this.dtlsAt !== null) {
      this.endAt = now();
      this.sender.rtpPath?.bye();
      if (this.channel?.readyState === "open") this.channel.send("b:");
      this.stopSending();
      this.pingTimer?.stop();
      this.rtcpTimer?.stop();
      this.sampleRtcpRtt();
      await new Promise((r) => setTimeout(r, this.opts.drainMs ?? 500));
    }
    if (!this.selected && this.dtlsAt !== null) await this.readSelectedPair();
    const result = this.result();
    this.closed = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.relayTimer) clearTimeout(this.relayTimer);
    this.pingTimer?.stop();
    this.rtcpTimer?.stop();
    this.stopSending();
    this.settle(false);
    await freeTurnAllocations(this.pc);
    // werift's close can wait for a TURN gathering that is still timing out; the call is over
    // for us either way, so it finishes in the background.
    const closing = this.pc.close().catch(() => undefined);
    await Promise.race([closing, new Promise((r) => setTimeout(r, 1000).unref())]);
    return result;
  }
}

type TurnLike = { turn?: { server: unknown; requestWithRetry(m: Message, addr: unknown, signal?: AbortSignal): Promise<unknown> } };

/**
 * Frees this connection's TURN allocations (Refresh with LIFETIME 0, RFC 8656 §7.3): werift
 * only closes the socket, which over UDP leaves the allocation and its relay port held for its
 * whole lifetime, so a churning soak test would drain the server's relay ports. Best effort,
 * through werift's internals (`connection.protocols`), bounded to half a second.
 */
async function freeTurnAllocations(pc: RTCPeerConnection): Promise<void> {
  try {
    const protocols: TurnLike[] = [];
    for (const t of pc.iceTransports) {
      const list = (t.connection as unknown as { protocols?: TurnLike[] }).protocols ?? [];
      for (const p of list) if (p.turn) protocols.push(p);
    }
    if (!protocols.length) return;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 500);
    await Promise.allSettled(
      protocols.map((p) => {
        const req = new Message(methods.REFRESH, classes.REQUEST);
        req.setAttribute("LIFETIME", 0);
        return p.turn!.requestWithRetry(req, p.turn!.server, abort.signal);
      }),
    );
    clearTimeout(timer);
  } catch {
    // Internals moved in a werift update: allocations then expire on their own.
  }
}

interface Repeating {
  stop(): void;
}

/** `run` after `firstMs`, then every `periodMs` until stopped. */
function every(firstMs: number, periodMs: number, run: () => void): Repeating {
  let timer: NodeJS.Timeout | null = setTimeout(() => {
    run();
    if (timer) timer = setInterval(run, periodMs);
  }, firstMs);
  return {
    stop: () => {
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
