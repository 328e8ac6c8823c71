/**
 * The bots' own RTP path for synthetic media, on werift's transports and keys. werift keeps ICE,
 * TURN, DTLS, the SRTP keying and RTCP; RTP packets skip its per-packet pipeline (RtpPacket
 * objects, the sender's and receiver's bookkeeping, the router, an event dispatch per hop),
 * which about doubled the CPU of a packet. Measured in `bench/bots-density` (werift's path is
 * its baseline).
 *
 * Only for AES-GCM (RFC 7714), which werift offers first and bots always agree on; any other
 * profile, or werift internals that moved, leave the call on werift's own path (`attach`
 * returns why).
 */
import type { RTCPeerConnection } from "werift";
import { GcmReceiver, GcmSender, type RtpFields, type UnprotectError } from "./srtp.ts";

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
  onData: { event?: { stack?: Array<{ execute: (data: Buffer) => void }> } };
  nominated?: { protocol?: { transport?: Socket; turn?: { transport?: Socket; addrByChannel?: Record<number, unknown> } } };
}
interface Socket {
  type?: string;
  onData?: (data: Buffer, addr: unknown) => void;
}

/** RTP, not RTCP, by its first two bytes (RFC 7983 §7, RFC 5761 §4: RTCP packet types 192-223). */
const isRtp = (b0: number | undefined, b1: number | undefined) => b0 !== undefined && b1 !== undefined && b0 > 127 && b0 < 192 && (b1 < 192 || b1 > 223);


export class RtpPath {
  /** RTP is taken from the nominated pair's UDP socket, below werift's TURN, STUN and ICE dispatch. */
  below = false;
  /** Packets dropped on receive: failed authentication (corrupt or forged), too short, malformed. */
  readonly dropped: Record<UnprotectError, number> = { short: 0, format: 0, auth: 0 };
  /** Every RTP packet received and authenticated, with its kind by payload type (null: unknown). */
  onRtp: (kind: Kind | null, rtp: RtpFields) => void = () => undefined;
  private readonly out: Record<Kind, { ssrc: number; payloadType: number }>;
  private readonly kindByPt: Map<number, Kind>;
  private readonly sender: GcmSender;
  private readonly receiver: GcmReceiver;
  private readonly connection: IceConnection;
  private readonly noop = () => undefined;

  private constructor(t: Internals, out: Record<Kind, { ssrc: number; payloadType: number }>, kindByPt: Map<number, Kind>) {
    const local = t.srtp!.localContext!;
    const remote = t.srtp!.remoteContext!;
    this.sender = new GcmSender({ key: local.srtpSessionKey!, salt: local.srtpSessionSalt! });
    this.receiver = new GcmReceiver({ key: remote.srtpSessionKey!, salt: remote.srtpSessionSalt! });
    this.connection = t.iceTransport.connection;
    this.out = out;
    this.kindByPt = kindByPt;
  }

  /**
   * Takes over RTP on a connected peer connection's (single, bundled) transport: from now on RTP
   * is received here and `send` sends it; RTCP and DTLS stay with werift. A reason string when
   * it cannot (another profile, internals not found): the call then stays on werift's path.
   */
  static attach(pc: RTCPeerConnection): RtpPath | string {
    const transports = pc.dtlsTransports;
    if (transports.length !== 1) return `${transports.length} DTLS transports (bundle expected)`;
    const t = transports[0] as unknown as Internals;
    const profile = t.dtls?.srtp?.srtpProfile;
    if (profile !== aeadAes128Gcm) return `SRTP profile ${profile ?? "unknown"} is not AES-GCM`;
    const ctx = [t.srtp?.localContext, t.srtp?.remoteContext];
    if (ctx.some((c) => !Buffer.isBuffer(c?.srtpSessionKey) || !Buffer.isBuffer(c?.srtpSessionSalt))) return "werift's SRTP session keys not found";
    const out = {} as Record<Kind, { ssrc: number; payloadType: number }>;
    const kindByPt = new Map<number, Kind>();
    for (const tr of pc.getTransceivers()) {
      const kind = tr.kind === "audio" ? "audio" : "video";
      const codecs = tr.codecs;
      if (!codecs.length) return `no negotiated ${kind} codec`;
      for (const c of codecs) kindByPt.set(c.payloadType, kind);
      out[kind] = { ssrc: tr.sender.ssrc, payloadType: (tr.sender.codec ?? codecs[0]!).payloadType };
    }
    if (!out.audio || !out.video) return "audio and video transceivers expected";
    // werift's SRTP receive handler on the ICE connection: RTP from now on goes to us, RTCP
    // still to it. Found by what it does, as werift subscribes it anonymously.
    const stack = t.iceTransport.connection.onData.event?.stack;
    const item = stack?.find((s) => /srtcp\.decrypt/.test(String(s.execute)));
    if (!item) return "werift's SRTP receive handler not found";
    const path = new RtpPath(t, out, kindByPt);
    const werift = item.execute;
    item.execute = (data: Buffer) => (isRtp(data[0], data[1]) ? path.receive(data) : werift(data));
    path.below = takeBelowIce(t.iceTransport.connection, (data) => path.receive(data));
    return path;
  }

  /** Encrypts and sends one RTP packet on the kind's negotiated SSRC and payload type. */
  send(kind: Kind, sequenceNumber: number, timestamp: number, marker: boolean, payload: Buffer): void {
    const o = this.out[kind];
    const packet = this.sender.protect({ payloadType: o.payloadType, sequenceNumber, timestamp, marker, ssrc: o.ssrc, payload });
    this.connection.send(packet).catch(this.noop);
  }

  private receive(data: Buffer): void {
    const rtp = this.receiver.unprotect(data);
    if (typeof rtp === "string") {
      this.dropped[rtp]++;
      return;
    }
    this.onRtp(this.kindByPt.get(rtp.payloadType) ?? null, rtp);
  }
}

/**
 * Takes RTP where the nominated candidate pair's UDP socket hands datagrams to werift: inside
 * TURN ChannelData (RFC 8656 §12.4) on a bound channel when relayed, or bare on a host or srflx
 * pair. What is not RTP goes on to werift as before. Spares each packet werift's TURN and STUN
 * parsing and three event dispatches; false (the ICE-level hook alone) over TCP or when the
 * internals are not there.
 */
function takeBelowIce(connection: IceConnection, take: (rtp: Buffer) => void): boolean {
  const protocol = connection.nominated?.protocol;
  const turn = protocol?.turn;
  const socket = turn ? turn.transport : protocol?.transport;
  if (!socket || socket.type !== "udp" || typeof socket.onData !== "function") return false;
  if (turn && typeof turn.addrByChannel !== "object") return false;
  const werift = socket.onData;
  socket.onData = (data, addr) => {
    if (!turn) {
      if (isRtp(data[0], data[1])) return take(data);
    } else if ((data[0]! & 0xc0) === 0x40 && data.length >= 4 && isRtp(data[4], data[5])) {
      const end = 4 + data.readUInt16BE(2);
      if (end <= data.length && turn.addrByChannel![data.readUInt16BE(0)]) return take(data.subarray(4, end));
    }
    werift(data, addr);
  };
  return true;
}
