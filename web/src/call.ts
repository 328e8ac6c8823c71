import type { CallStats, Candidate, Description, MatchFound, Signal } from "../../protocol/index.ts";

export type RouteKind = "direct" | "relayed";
export type CandidateType = NonNullable<CallStats["localCandidateType"]>;

/** The ICE path the call uses, from `getStats()`'s selected candidate pair. */
export interface Route {
  kind: RouteKind;
  local: CandidateType;
  remote: CandidateType;
  protocol: "udp" | "tcp" | "tls";
}

export interface PeerCallOptions {
  match: MatchFound;
  /** Ask for relay candidates only, whatever the server said. */
  relayOnly: boolean;
  local: MediaStream | null;
  sendSignal(signal: Omit<Signal, "sessionId">): void;
  onRemoteStream(stream: MediaStream): void;
  onStateChange(state: RTCPeerConnectionState): void;
}

const candidateTypes = new Set<string>(["host", "srflx", "prflx", "relay"]);

/**
 * One WebRTC call. Roles come from the server, so only the offerer ever makes an offer and
 * there is no glare to resolve. The local media never needs a renegotiation: toggles set
 * `track.enabled`, device changes use `replaceTrack`.
 */
export class PeerCall {
  readonly sessionId: string;
  private readonly pc: RTCPeerConnection;
  private readonly opts: PeerCallOptions;
  private readonly remote = new MediaStream();
  private pending: RTCIceCandidateInit[] = [];
  private restarted = false;
  private closed = false;
  readonly startedAt = performance.now();
  iceConnectedAt: number | null = null;
  connectedAt: number | null = null;

  constructor(opts: PeerCallOptions) {
    this.opts = opts;
    this.sessionId = opts.match.sessionId;
    const policy: RTCIceTransportPolicy = opts.relayOnly || opts.match.iceTransportPolicy === "relay" ? "relay" : "all";
    this.pc = new RTCPeerConnection({ iceServers: opts.match.iceServers, iceTransportPolicy: policy });
    this.pc.onicecandidate = (e) => {
      // End-of-candidates is implied; not every peer (werift bots) accepts an explicit null.
      if (e.candidate) this.opts.sendSignal({ candidate: e.candidate.toJSON() as Candidate });
    };
    this.pc.ontrack = (e) => {
      this.remote.addTrack(e.track);
      this.opts.onRemoteStream(this.remote);
    };
    this.pc.oniceconnectionstatechange = () => {
      const s = this.pc.iceConnectionState;
      if ((s === "connected" || s === "completed") && this.iceConnectedAt === null) this.iceConnectedAt = performance.now();
    };
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      if (s === "connected" && this.connectedAt === null) this.connectedAt = performance.now();
      // A network change kills the ICE path; one ICE restart usually finds a new one.
      if (s === "failed" && this.opts.match.role === "offerer" && !this.restarted) {
        this.restarted = true;
        void this.offer(true);
      }
      this.opts.onStateChange(s);
    };
  }

  get connectionState(): RTCPeerConnectionState {
    return this.pc.connectionState;
  }

  get relayPolicy(): boolean {
    return this.pc.getConfiguration().iceTransportPolicy === "relay";
  }

  /** Starts negotiation when we are the offerer; the answerer waits for the offer. */
  async start(): Promise<void> {
    if (this.opts.match.role !== "offerer") return;
    const local = this.opts.local;
    for (const kind of ["audio", "video"] as const) {
      const track = local?.getTracks().find((t) => t.kind === kind);
      // Without a camera (chat-only) we still want to see and hear the peer.
      if (track && local) this.pc.addTrack(track, local);
      else this.pc.addTransceiver(kind, { direction: "recvonly" });
    }
    await this.offer(false);
  }

  private async offer(iceRestart: boolean): Promise<void> {
    if (this.closed) return;
    const offer = await this.pc.createOffer({ iceRestart });
    await this.pc.setLocalDescription(offer);
    this.opts.sendSignal({ description: toDescription(this.pc.localDescription!) });
  }

  async handleSignal(signal: Signal): Promise<void> {
    if (this.closed) return;
    if (signal.description) {
      const d = signal.description;
      if (d.type === "offer") {
        await this.pc.setRemoteDescription(d);
        // addTrack after the offer reuses the transceivers the offer created.
        const local = this.opts.local;
        if (local) {
          for (const track of local.getTracks()) {
            if (!this.pc.getSenders().some((s) => s.track === track)) this.pc.addTrack(track, local);
          }
        }
        const answer = await this.pc.createAnswer();
        await this.pc.setLocalDescription(answer);
        this.opts.sendSignal({ description: toDescription(this.pc.localDescription!) });
      } else if (d.type === "answer" || d.type === "pranswer") {
        await this.pc.setRemoteDescription(d);
      }
      const queued = this.pending;
      this.pending = [];
      for (const c of queued) await this.addCandidate(c);
    }
    if (signal.candidate) {
      const c = signal.candidate as RTCIceCandidateInit;
      if (!this.pc.remoteDescription) this.pending.push(c);
      else await this.addCandidate(c);
    }
  }

  private async addCandidate(c: RTCIceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate(c);
    } catch {
      // A candidate for a transport we do not use (e.g. host ones under relay-only); harmless.
    }
  }

  /** Whether the negotiated call carries video from the peer (false when they are chat-only). */
  remoteSendsVideo(): boolean {
    const video = this.pc.getTransceivers().find((t) => t.receiver.track.kind === "video");
    const dir = video?.currentDirection;
    // Before negotiation completes we do not know yet: assume a camera.
    if (!video || !dir) return true;
    return dir === "sendrecv" || dir === "recvonly";
  }

  async replaceTrack(track: MediaStreamTrack): Promise<void> {
    const sender = this.pc.getSenders().find((s) => s.track?.kind === track.kind);
    if (sender) await sender.replaceTrack(track);
  }

  /** The selected candidate pair and receive counters; null before ICE has chosen a path. */
  async stats(): Promise<{ route: Route | null; stats: CallStats }> {
    const { route, stats } = readStats(await this.pc.getStats());
    if (this.iceConnectedAt !== null) stats.iceMs = Math.round(this.iceConnectedAt - this.startedAt);
    if (this.connectedAt !== null) stats.setupMs = Math.round(this.connectedAt - this.startedAt);
    return { route, stats };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pc.onicecandidate = null;
    this.pc.ontrack = null;
    this.pc.onconnectionstatechange = null;
    this.pc.close();
    // The remote tracks end with the connection; the local ones belong to the preview.
  }
}

function toDescription(d: RTCSessionDescription): Description {
  return { type: d.type, sdp: d.sdp };
}

/** The part of `RTCStatsReport` we read; a plain Map of stats objects works too. */
/* eslint-disable @typescript-eslint/no-explicit-any -- each stats type has its own fields */
export interface StatsLike {
  forEach(fn: (s: any) => void): void;
  get(id: string): any;
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/**
 * The route and receive counters from a `getStats()` report. The selected pair is the
 * transport's `selectedCandidatePairId` (Chromium, Safari), else the nominated succeeded pair
 * (Firefox). A call is relayed when either end of that pair is a TURN relay candidate.
 */
export function readStats(report: StatsLike): { route: Route | null; stats: CallStats } {
  let pair: RTCIceCandidatePairStats | undefined;
  const stats: CallStats = {};
  let framesDecoded = 0;
  let packetsReceived = 0;
  let packetsLost = 0;
  let bytesReceived = 0;
  let bytesSent = 0;
  let jitter: number | undefined;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
    if (s.type === "inbound-rtp") {
      packetsReceived += s.packetsReceived ?? 0;
      packetsLost += s.packetsLost ?? 0;
      bytesReceived += s.bytesReceived ?? 0;
      if (s.kind === "video") {
        framesDecoded += s.framesDecoded ?? 0;
        if (typeof s.jitter === "number") jitter = s.jitter;
      }
    }
    if (s.type === "outbound-rtp") bytesSent += s.bytesSent ?? 0;
  });
  if (!pair) {
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair ??= s;
    });
  }
  let route: Route | null = null;
  if (pair) {
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    const lt = String(local?.candidateType);
    const rt = String(remote?.candidateType);
    if (candidateTypes.has(lt) && candidateTypes.has(rt)) {
      // For a relay candidate, `protocol` is the relay's own side; how we reach TURN is relayProtocol.
      const protocol = lt === "relay" && local?.relayProtocol ? local.relayProtocol : local?.protocol;
      route = {
        kind: lt === "relay" || rt === "relay" ? "relayed" : "direct",
        local: lt as CandidateType,
        remote: rt as CandidateType,
        protocol: protocol === "tcp" || protocol === "tls" ? protocol : "udp",
      };
      stats.localCandidateType = route.local;
      stats.remoteCandidateType = route.remote;
      stats.transport = route.protocol;
    }
    if (typeof pair.currentRoundTripTime === "number") stats.rttMs = Math.round(pair.currentRoundTripTime * 1000);
  }
  stats.framesDecoded = framesDecoded;
  stats.packetsReceived = packetsReceived;
  stats.packetsLost = packetsLost;
  stats.bytesReceived = bytesReceived;
  stats.bytesSent = bytesSent;
  if (jitter !== undefined) stats.jitterMs = Math.round(jitter * 1000);
  const total = packetsReceived + Math.max(0, packetsLost);
  if (total > 0) stats.lossPct = Math.round((Math.max(0, packetsLost) / total) * 10000) / 100;
  return { route, stats };
}
