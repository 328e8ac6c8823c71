/**
 * The bots' own RTP path for synthetic media, on werift's transports and keys. werift keeps ICE,
 * TURN, DTLS, the SRTP keying and RTCP; RTP packets skip its per-packet pipeline (RtpPacket
 * objects, the sender's and receiver's bookkeeping, the router, an event dispatch per hop),
 * which about doubled the CPU of a packet. Measured in `bench/bots-density` (werift's path is
 * its baseline).
 *
 * Only for AES-GCM (RFC 7714), which werift offers first and bots always agree on; any other
 * profile, or werift internals that moved, leave the call on werift's own path (`attach`
 * returns why). What werift's RTCP needs of the RTP it no longer sees is kept up to date: the
 * sender's counts and timestamps (sender reports), each remote stream's statistics (receiver
 * reports: loss, jitter, the round trip).
 */
import type { RTCPeerConnection } from "werift";
import { ReplayWindow, type IntegrityCounts } from "./integrity.ts";
import { GcmReceiver, GcmSender, type RtpFields } from "./srtp.ts";

/** werift's SRTP protection profile number for AEAD_AES_128_GCM (RFC 7714 §14.2). */
const aeadAes128Gcm = 7;

type Kind = "audio" | "video";

/** Internals this path relies on, checked at `attach`. */
interface Internals {
  srtp?: { localContext?: SrtpContext; remoteContext?: SrtpContext };
  dtls?: { srtp?: { srtpProfile?: number } };
  iceTransport: { connection: IceConnection };
}
interface SrtpContext {
  srtpSessionKey?: Buffer;
  srtpSessionSalt?: Buffer;
}
interface IceConnection {
  send(data: Buffer): Promise<void>;
  canSendApplicationData(): boolean;
  onData: { event?: { stack?: Array<{ execute: (data: Buffer) => void }> } };
  nominated?: CandidatePair;
}
interface CandidatePair {
  remoteAddr: Address;
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  bytesReceived: number;
  protocol?: { transport?: Socket; turn?: Turn };
}
type Address = [string, number];
/** werift's TURN client (`TurnProtocol`): the server it sends to and its channel bindings. */
interface Turn {
  transport?: Socket;
  addrByChannel?: Record<number, unknown>;
  channelByAddr?: Record<string, { number: number; refreshAt: number } | undefined>;
  pinnedServerEndpoint?: Address;
}
/** werift's `RTCRtpSender` fields that its sender reports are made of. */
interface SenderReportState {
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  /** The sender-report loop, which werift starts on the first RTP it sends itself. */
  runRtcp(): Promise<void>;
}
/** werift's per-SSRC receive statistics (`RTCRtpReceiver.remoteStreams`), fed from here. */
interface StreamStatistics {
  add(packet: { header: { sequenceNumber: number; timestamp: number; serializeSize: number }; payload: Buffer }): void;
}
type RemoteStreams = Record<number, StreamStatistics | undefined>;

interface Socket {
  type?: string;
  onData?: (data: Buffer, addr: unknown) => void;
  socket?: { send(data: Buffer, port: number, address: string): void };
}

/** SRTP or SRTCP by its first byte (RFC 7983 §7). */
const isMedia = (b0: number | undefined) => b0 !== undefined && b0 > 127 && b0 < 192;
/** RTP, not RTCP, by its first two bytes (RFC 7983 §7, RFC 5761 §4: RTCP packet types 192-223). */
const isRtp = (b0: number | undefined, b1: number | undefined) => b0 !== undefined && b1 !== undefined && b0 > 127 && b0 < 192 && (b1 < 192 || b1 > 223);

/** Where one kind's packets go out, and werift's RTCP state for it. */
interface Outbound {
  ssrc: number;
  payloadType: number;
  report: SenderReportState;
  /** When the sender report's NTP/RTP timestamp pair was last taken, ms. */
  stampedAt: number;
}

/** RFC 5905 NTP time now: seconds since 1900 in the high 32 bits, the fraction in the low. */
function ntpNow(ms = Date.now()): bigint {
  const seconds = Math.floor(ms / 1000) + 2208988800;
  return (BigInt(seconds) << 32n) | BigInt(Math.floor(((ms % 1000) / 1000) * 2 ** 32));
}

/** ChannelData header: channel number and length (RFC 8656 §12.4). */
const channelDataHeader = 4;
/** What a direct send returns in place of werift's promise: the packet is written already. */
const sent = Promise.resolve();

/**
 * Sends on the nominated pair's UDP socket, below werift's ICE and TURN send chain (five async
 * calls, a JSON channel key and a buffer concatenation per packet): to the TURN server inside
 * ChannelData on werift's bound channel (RFC 8656 §12.4), or to the remote host directly.
 */
class DirectSend {
  /** Bytes a packet needs in front of it: the ChannelData header when relayed. */
  readonly headroom: number;
  private readonly connection: IceConnection;
  private readonly pair: CandidatePair;
  private readonly socket: NonNullable<Socket["socket"]>;
  private readonly to: Address;
  /** werift's binding (refreshed by werift's own send path when due); null on a pair without TURN. */
  private readonly channel: { number: number; refreshAt: number } | null;

  constructor(connection: IceConnection, pair: CandidatePair, socket: NonNullable<Socket["socket"]>, to: Address, channel: DirectSend["channel"]) {
    this.connection = connection;
    this.pair = pair;
    this.socket = socket;
    this.to = to;
    this.channel = channel;
    this.headroom = channel ? channelDataHeader : 0;
  }

  /**
   * What werift's send checks (consent, RFC 7675; the nominated pair), and a channel binding not
   * yet due for refresh: werift's own send refreshes it, so a due one goes through werift.
   */
  ready(ms: number): boolean {
    const c = this.connection;
    return c.nominated === this.pair && c.canSendApplicationData() && (!this.channel || this.channel.refreshAt * 1000 > ms);
  }

  /** Sends the packet that follows `headroom` free bytes in `framed`. */
  write(framed: Buffer): void {
    const length = framed.length - this.headroom;
    if (this.channel) {
      framed.writeUInt16BE(this.channel.number, 0);
      framed.writeUInt16BE(length, 2);
    }
    this.socket.send(framed, this.to[1], this.to[0]);
    // The pair's counts werift's getStats reports (candidate-pair packetsSent, bytesSent).
    this.pair.packetsSent++;
    this.pair.bytesSent += length;
  }
}

export class RtpPath {
  /**
   * RTP is taken from and sent on the nominated pair's UDP socket, below werift's TURN, STUN and
   * ICE layers in both directions.
   */
  below = false;
  /** Sends on the nominated pair's UDP socket; null: through werift's ICE connection. */
  private direct: DirectSend | null = null;
  /** Every RTP packet received, authenticated and not a replay, with its kind by payload type (null: unknown). */
  onRtp: (kind: Kind | null, rtp: RtpFields) => void = () => undefined;
  private readonly out: Record<Kind, Outbound>;
  private readonly kindByPt: Map<number, Kind>;
  private readonly streams: Record<Kind, RemoteStreams>;
  private readonly sender: GcmSender;
  private readonly receiver: GcmReceiver;
  /** werift's send on the ICE connection. */
  private weriftSend: (data: Buffer) => Promise<void>;
  private readonly integrity: IntegrityCounts;
  private readonly windows = new Map<number, ReplayWindow>();
  /** The original SRTP handler: the first packet of each SSRC goes there, so werift's receiver knows the stream. */
  private readonly werift: (data: Buffer) => void;
  private readonly noop = () => undefined;

  private constructor(
    t: Internals,
    integrity: IntegrityCounts,
    parts: { out: Record<Kind, Outbound>; kindByPt: Map<number, Kind>; streams: Record<Kind, RemoteStreams>; werift: (data: Buffer) => void },
  ) {
    const local = t.srtp!.localContext!;
    const remote = t.srtp!.remoteContext!;
    this.sender = new GcmSender({ key: local.srtpSessionKey!, salt: local.srtpSessionSalt! });
    this.receiver = new GcmReceiver({ key: remote.srtpSessionKey!, salt: remote.srtpSessionSalt! });
    const connection = t.iceTransport.connection;
    this.weriftSend = (data) => connection.send(data);
    this.integrity = integrity;
    this.out = parts.out;
    this.kindByPt = parts.kindByPt;
    this.streams = parts.streams;
    this.werift = parts.werift;
  }

  /**
   * Takes over RTP on a connected peer connection's (single, bundled) transport: from now on RTP
   * is received here and `send` sends it; RTCP and DTLS stay with werift. A reason string when
   * it cannot (another profile, internals not found): the call then stays on werift's path.
   * Packets failing authentication count as `corrupt` and replays (RFC 3711 §3.3.2) as
   * `replayed` in `integrity`, the counts werift's own SRTP path keeps for RTCP.
   */
  static attach(pc: RTCPeerConnection, integrity: IntegrityCounts): RtpPath | string {
    const transports = pc.dtlsTransports;
    if (transports.length !== 1) return `${transports.length} DTLS transports (bundle expected)`;
    const t = transports[0] as unknown as Internals;
    const profile = t.dtls?.srtp?.srtpProfile;
    if (profile !== aeadAes128Gcm) return `SRTP profile ${profile ?? "unknown"} is not AES-GCM`;
    const ctx = [t.srtp?.localContext, t.srtp?.remoteContext];
    if (ctx.some((c) => !Buffer.isBuffer(c?.srtpSessionKey) || !Buffer.isBuffer(c?.srtpSessionSalt))) return "werift's SRTP session keys not found";
    const out = {} as Record<Kind, Outbound>;
    const streams = {} as Record<Kind, RemoteStreams>;
    const kindByPt = new Map<number, Kind>();
    for (const tr of pc.getTransceivers()) {
      const kind = tr.kind === "audio" ? "audio" : "video";
      const codecs = tr.codecs;
      if (!codecs.length) return `no negotiated ${kind} codec`;
      for (const c of codecs) kindByPt.set(c.payloadType, kind);
      const report = tr.sender as unknown as Partial<SenderReportState>;
      const remote = (tr.receiver as unknown as { remoteStreams?: RemoteStreams }).remoteStreams;
      if (typeof report.ntpTimestamp !== "bigint" || typeof report.packetCount !== "number" || typeof report.runRtcp !== "function" || !remote)
        return "werift's RTCP state not found";
      out[kind] = { ssrc: tr.sender.ssrc, payloadType: (tr.sender.codec ?? codecs[0]!).payloadType, report: report as SenderReportState, stampedAt: 0 };
      streams[kind] = remote;
    }
    if (!out.audio || !out.video) return "audio and video transceivers expected";
    // werift's SRTP receive handler on the ICE connection: RTP from now on goes to us, RTCP
    // still to it. Found by what it does, as werift subscribes it anonymously.
    const stack = t.iceTransport.connection.onData.event?.stack;
    const item = stack?.find((s) => /srtcp\.decrypt/.test(String(s.execute)));
    if (!item) return "werift's SRTP receive handler not found";
    const werift = item.execute;
    const path = new RtpPath(t, integrity, { out, kindByPt, streams, werift });
    for (const o of Object.values(out)) void o.report.runRtcp().catch(() => undefined);
    item.execute = (data: Buffer) => (isRtp(data[0], data[1]) ? path.receive(data) : werift(data));
    const connection = t.iceTransport.connection;
    const below = takeBelowIce(connection, item.execute);
    const direct = (path.direct = directSend(connection));
    path.below = below && direct !== null;
    if (direct) {
      // werift's own sends on this connection (SRTCP, DTLS records) take the same way.
      const weriftSend = connection.send;
      connection.send = (data: Buffer) => {
        if (!direct.ready(Date.now())) return weriftSend(data);
        const framed = Buffer.allocUnsafe(direct.headroom + data.length);
        data.copy(framed, direct.headroom);
        direct.write(framed);
        return sent;
      };
      path.weriftSend = weriftSend;
    }
    return path;
  }

  /** Encrypts and sends one RTP packet on the kind's negotiated SSRC and payload type. */
  send(kind: Kind, sequenceNumber: number, timestamp: number, marker: boolean, payload: Buffer): void {
    const o = this.out[kind];
    const rtp = { payloadType: o.payloadType, sequenceNumber, timestamp, marker, ssrc: o.ssrc, payload };
    const ms = Date.now();
    const d = this.direct;
    // Encrypted straight into the frame it is sent in.
    if (d?.ready(ms)) d.write(this.sender.protect(rtp, d.headroom));
    else this.weriftSend(this.sender.protect(rtp)).catch(this.noop);
    // Sender reports (RFC 3550 §6.4.1): counts, and an NTP/RTP timestamp pair of the same instant.
    const r = o.report;
    r.packetCount++;
    r.octetCount += payload.length;
    if (ms - o.stampedAt >= 100) {
      o.stampedAt = ms;
      r.ntpTimestamp = ntpNow(ms);
      r.rtpTimestamp = timestamp;
    }
  }

  private receive(data: Buffer): void {
    const rtp = this.receiver.unprotect(data);
    if (typeof rtp === "string") {
      this.integrity.corrupt++;
      return;
    }
    let window = this.windows.get(rtp.ssrc);
    if (!window) this.windows.set(rtp.ssrc, (window = new ReplayWindow()));
    if (!window.accept(rtp.index)) {
      this.integrity.replayed++;
      return;
    }
    const kind = this.kindByPt.get(rtp.payloadType) ?? null;
    // Receiver reports: werift's statistics of this stream, created by werift's own path on the
    // stream's first packet (which it then delivers as usual).
    const stats = kind ? this.streams[kind][rtp.ssrc] : undefined;
    if (kind && !stats) return this.werift(data);
    stats?.add({ header: { sequenceNumber: rtp.sequenceNumber, timestamp: rtp.timestamp, serializeSize: 12 }, payload: rtp.payload });
    this.onRtp(kind, rtp);
  }
}

/**
 * Takes SRTP and SRTCP (RFC 7983 §7: first byte 128-191) where the nominated candidate pair's
 * UDP socket hands datagrams to werift: inside TURN ChannelData (RFC 8656 §12.4) on a bound
 * channel when relayed, or bare on a host or srflx pair; `take` gets them as werift's ICE
 * connection would hand them on. STUN and DTLS go on to werift as before. Spares each packet
 * werift's TURN and STUN parsing and three event dispatches; false (the ICE-level hook alone)
 * over TCP or when the internals are not there.
 */
function takeBelowIce(connection: IceConnection, take: (media: Buffer) => void): boolean {
  const pair = connection.nominated;
  const protocol = pair?.protocol;
  const turn = protocol?.turn;
  const socket = turn ? turn.transport : protocol?.transport;
  if (!pair || !socket || socket.type !== "udp" || typeof socket.onData !== "function") return false;
  if (turn && typeof turn.addrByChannel !== "object") return false;
  const werift = socket.onData;
  const media = (packet: Buffer) => {
    // The pair's counts werift's getStats reports (candidate-pair packetsReceived, bytesReceived).
    pair.packetsReceived++;
    pair.bytesReceived += packet.length;
    take(packet);
  };
  socket.onData = (data, addr) => {
    if (!turn) {
      if (isMedia(data[0])) return media(data);
    } else if ((data[0]! & 0xc0) === 0x40 && data.length >= 4 && isMedia(data[4])) {
      const end = 4 + data.readUInt16BE(2);
      if (end <= data.length && turn.addrByChannel![data.readUInt16BE(0)]) return media(data.subarray(4, end));
    }
    werift(data, addr);
  };
  return true;
}

/**
 * The nominated pair's UDP socket to send on directly (`DirectSend`). Null over TCP, before a
 * channel is bound, or when the internals are not there: everything then goes through werift's
 * ICE connection.
 */
function directSend(connection: IceConnection): DirectSend | null {
  const pair = connection.nominated;
  const protocol = pair?.protocol;
  if (!pair || !protocol || typeof connection.canSendApplicationData !== "function") return null;
  const turn = protocol.turn;
  const transport = turn ? turn.transport : protocol.transport;
  const socket = transport?.socket;
  if (transport?.type !== "udp" || typeof socket?.send !== "function" || typeof pair.packetsSent !== "number") return null;
  if (!turn) return Array.isArray(pair.remoteAddr) ? new DirectSend(connection, pair, socket, pair.remoteAddr, null) : null;
  const channel = turn.channelByAddr?.[JSON.stringify(pair.remoteAddr)];
  const server = turn.pinnedServerEndpoint;
  if (!channel || typeof channel.number !== "number" || typeof channel.refreshAt !== "number" || !Array.isArray(server)) return null;
  return new DirectSend(connection, pair, socket, server, channel);
}
