/**
 * The bots' own RTP and RTCP path for synthetic media, on werift's transports and keys. werift
 * keeps ICE, TURN, DTLS, the SRTP keying, SRTCP protection and data channels; RTP packets skip
 * its per-packet pipeline (RtpPacket objects, the sender's and receiver's bookkeeping, the
 * router, an event dispatch per hop), which about doubled the CPU of a packet, and RTCP is the
 * bots' own (`rtcp.ts`: one compound report per bot per second instead of werift's loop per
 * sender and receiver). Measured in `bench/bots-density` (werift's path is its baseline).
 *
 * Only for AES-GCM (RFC 7714), which werift offers first and bots always agree on; any other
 * profile, or werift internals that moved, leave the call on werift's own path (`attach`
 * returns why).
 */
import type { RemoteInfo, Socket as UdpSocket } from "node:dgram";
import type { RTCPeerConnection } from "werift";
import { now } from "./clock.ts";
import { ReplayWindow, type IntegrityCounts } from "./integrity.ts";
import { RtcpReports } from "./rtcp.ts";
import { GcmReceiver, GcmSender, type RtpFields } from "./srtp.ts";
import { SsrcMap } from "./ssrc-map.ts";

/** werift's SRTP protection profile number for AEAD_AES_128_GCM (RFC 7714 §14.2). */
const aeadAes128Gcm = 7;

type Kind = "audio" | "video";

/** Internals this path relies on, checked at `attach`. */
interface Internals {
  srtp?: { localContext?: SrtpContext; remoteContext?: SrtpContext };
  /** werift's SRTCP session (`decrypt` wrapped by `guardSrtp` to count corrupt and replayed packets). */
  srtcp?: { encrypt(raw: Buffer): Buffer; decrypt(buf: Buffer): Buffer };
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
/** werift's RTCP loop of a sender or receiver: stopped, as the path sends the reports. */
interface RtcpLoop {
  rtcpRunning?: boolean;
  rtcpCancel?: AbortController;
}

interface Socket {
  type?: string;
  socket?: UdpSocket;
}

/** SRTP or SRTCP by its first byte (RFC 7983 §7). */
const isMedia = (b0: number | undefined) => b0 !== undefined && b0 > 127 && b0 < 192;
/** RTP, not RTCP, by its first two bytes (RFC 7983 §7, RFC 5761 §4: RTCP packet types 192-223). */
const isRtp = (b0: number | undefined, b1: number | undefined) => b0 !== undefined && b1 !== undefined && b0 > 127 && b0 < 192 && (b1 < 192 || b1 > 223);

/** Where one kind's packets go out. */
interface Outbound {
  ssrc: number;
  payloadType: number;
  /** Its index in the reports' streams. */
  stream: number;
}

const clockRates: Record<Kind, number> = { audio: 48000, video: 90000 };

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
  private readonly send: (data: Buffer) => void;
  /** werift's binding (refreshed by werift's own send path when due); null on a pair without TURN. */
  private readonly channel: { number: number; refreshAt: number } | null;

  constructor(connection: IceConnection, pair: CandidatePair, send: (data: Buffer) => void, channel: DirectSend["channel"]) {
    this.connection = connection;
    this.pair = pair;
    this.send = send;
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

  /** Sends `packet`, copied behind the headroom (packets not built with it: SRTCP, DTLS records). */
  writeCopy(packet: Buffer): void {
    if (!this.headroom) return this.write(packet);
    const framed = Buffer.allocUnsafe(this.headroom + packet.length);
    packet.copy(framed, this.headroom);
    this.write(framed);
  }

  /** Sends the packet that follows `headroom` free bytes in `framed`. */
  write(framed: Buffer): void {
    const length = framed.length - this.headroom;
    if (this.channel) {
      framed.writeUInt16BE(this.channel.number, 0);
      framed.writeUInt16BE(length, 2);
    }
    this.send(framed);
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
  /** The partner sent an RTCP BYE: it hung up. */
  onBye: () => void = () => undefined;
  /** RTCP round trips measured so far (RFC 3550 §6.4.1), their sum in ms and count. */
  readonly roundTrips = { totalMs: 0, n: 0 };
  private readonly out: Record<Kind, Outbound>;
  /** Kind by RTP payload type (0-127). */
  private readonly kindByPt: Array<Kind | undefined>;
  private readonly sender: GcmSender;
  private readonly receiver: GcmReceiver;
  private readonly srtcp: NonNullable<Internals["srtcp"]>;
  private readonly reports: RtcpReports;
  /** werift's send on the ICE connection. */
  private weriftSend: (data: Buffer) => Promise<void>;
  private readonly integrity: IntegrityCounts;
  private readonly windows = new SsrcMap<ReplayWindow>();
  private readonly noop = () => undefined;

  private constructor(t: Internals, integrity: IntegrityCounts, out: Record<Kind, Outbound>, kindByPt: Array<Kind | undefined>, cname: string) {
    const local = t.srtp!.localContext!;
    const remote = t.srtp!.remoteContext!;
    this.sender = new GcmSender({ key: local.srtpSessionKey!, salt: local.srtpSessionSalt! });
    this.receiver = new GcmReceiver({ key: remote.srtpSessionKey!, salt: remote.srtpSessionSalt! });
    this.srtcp = t.srtcp!;
    const connection = t.iceTransport.connection;
    this.weriftSend = (data) => connection.send(data);
    this.integrity = integrity;
    this.out = out;
    this.kindByPt = kindByPt;
    this.reports = new RtcpReports(
      (["audio", "video"] as const).map((k) => ({ ssrc: out[k].ssrc, clockRate: clockRates[k] })),
      cname,
    );
    this.reports.onRoundTrip = (_, ms) => {
      this.roundTrips.totalMs += ms;
      this.roundTrips.n++;
    };
    this.reports.onBye = () => this.onBye();
  }

  /**
   * Takes over RTP and RTCP on a connected peer connection's (single, bundled) transport: from
   * now on media is received here and `send` sends it, with the reports; DTLS stays with werift.
   * A reason string when it cannot (another profile, internals not found): the call then stays
   * on werift's path. Packets failing authentication count as `corrupt` and replays (RFC 3711
   * §3.3.2) as `replayed` in `integrity`; for SRTCP werift's session (guarded) counts them.
   */
  static attach(pc: RTCPeerConnection, integrity: IntegrityCounts): RtpPath | string {
    const transports = pc.dtlsTransports;
    if (transports.length !== 1) return `${transports.length} DTLS transports (bundle expected)`;
    const t = transports[0] as unknown as Internals;
    const profile = t.dtls?.srtp?.srtpProfile;
    if (profile !== aeadAes128Gcm) return `SRTP profile ${profile ?? "unknown"} is not AES-GCM`;
    const ctx = [t.srtp?.localContext, t.srtp?.remoteContext];
    if (ctx.some((c) => !Buffer.isBuffer(c?.srtpSessionKey) || !Buffer.isBuffer(c?.srtpSessionSalt))) return "werift's SRTP session keys not found";
    if (typeof t.srtcp?.encrypt !== "function" || typeof t.srtcp.decrypt !== "function") return "werift's SRTCP session not found";
    const out = {} as Record<Kind, Outbound>;
    const kindByPt = new Array<Kind | undefined>(128);
    const loops: RtcpLoop[] = [];
    let cname = "";
    for (const tr of pc.getTransceivers()) {
      const kind = tr.kind === "audio" ? "audio" : "video";
      const codecs = tr.codecs;
      if (!codecs.length) return `no negotiated ${kind} codec`;
      for (const c of codecs) kindByPt[c.payloadType & 0x7f] = kind;
      const sender = tr.sender as unknown as RtcpLoop & { cname?: string };
      const receiver = tr.receiver as unknown as RtcpLoop;
      if (!(sender.rtcpCancel instanceof AbortController) || !(receiver.rtcpCancel instanceof AbortController)) return "werift's RTCP loops not found";
      loops.push(sender, receiver);
      cname ||= sender.cname ?? "";
      out[kind] = { ssrc: tr.sender.ssrc, payloadType: (tr.sender.codec ?? codecs[0]!).payloadType, stream: kind === "audio" ? 0 : 1 };
    }
    if (!out.audio || !out.video) return "audio and video transceivers expected";
    // werift's SRTP receive handler on the ICE connection: media from now on comes here. Found
    // by what it does, as werift subscribes it anonymously.
    const stack = t.iceTransport.connection.onData.event?.stack;
    const item = stack?.find((s) => /srtcp\.decrypt/.test(String(s.execute)));
    if (!item) return "werift's SRTP receive handler not found";
    // werift's report loops (one per sender and receiver, each on its own timer) stop for good:
    // running and cancelled, they neither start again nor send.
    for (const l of loops) {
      l.rtcpRunning = true;
      l.rtcpCancel!.abort();
    }
    const path = new RtpPath(t, integrity, out, kindByPt, cname || "vchat-bot");
    // Everything the ICE connection receives comes here (DTLS records too): SRTP and SRTCP only.
    item.execute = (data: Buffer) => {
      if (isRtp(data[0], data[1])) path.receive(data);
      else if (isMedia(data[0])) path.receiveRtcp(data);
    };
    const connection = t.iceTransport.connection;
    const below = takeBelowIce(connection, item.execute);
    const direct = (path.direct = directSend(connection));
    path.below = below && direct !== null;
    if (direct) {
      // werift's own sends on this connection (DTLS records) take the same way.
      const weriftSend = connection.send;
      connection.send = (data: Buffer) => {
        if (!direct.ready(Date.now())) return weriftSend(data);
        direct.writeCopy(data);
        return sent;
      };
      path.weriftSend = weriftSend;
    }
    return path;
  }

  /** Encrypts and sends one RTP packet on the kind's negotiated SSRC and payload type; a compound report when one is due. */
  send(kind: Kind, sequenceNumber: number, timestamp: number, marker: boolean, payload: Buffer): void {
    const o = this.out[kind];
    const ms = Date.now();
    const direct = this.direct?.ready(ms) ? this.direct : null;
    // Encrypted straight into the frame it is sent in.
    const srtp = this.sender.protect({ payloadType: o.payloadType, sequenceNumber, timestamp, marker, ssrc: o.ssrc, payload }, direct?.headroom ?? 0);
    if (direct) direct.write(srtp);
    else this.weriftSend(srtp).catch(this.noop);
    // The reports' times to the µs: their round trip is under a millisecond on loopback.
    const t = now();
    this.reports.sent(o.stream, timestamp, payload.length, t);
    const rtcp = this.reports.due(t);
    if (rtcp) this.sendRtcp(rtcp, direct);
  }

  /** Hang-up: a last report ending in a BYE (RFC 3550 §6.6), so the partner knows this end left. */
  bye(): void {
    this.sendRtcp(this.reports.report(now(), true), this.direct?.ready(Date.now()) ? this.direct : null);
  }

  private sendRtcp(rtcp: Buffer, direct: DirectSend | null): void {
    const srtcp = this.srtcp.encrypt(rtcp);
    if (direct) direct.writeCopy(srtcp);
    else this.weriftSend(srtcp).catch(this.noop);
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
    const kind = this.kindByPt[rtp.payloadType] ?? null;
    this.reports.received(rtp.ssrc, clockRates[kind ?? "video"], rtp.index, rtp.timestamp, Date.now());
    this.onRtp(kind, rtp);
  }

  /** The partner's reports: decrypted by werift's SRTCP session (which counts corrupt and replayed ones), read here. */
  private receiveRtcp(data: Buffer): void {
    let rtcp: Buffer;
    try {
      rtcp = this.srtcp.decrypt(data);
    } catch {
      return;
    }
    this.reports.read(rtcp, now());
  }
}

/**
 * Takes SRTP and SRTCP (RFC 7983 §7: first byte 128-191) where the nominated candidate pair's
 * UDP socket receives them (its `message` listener, in place of werift's): inside TURN
 * ChannelData (RFC 8656 §12.4) on a bound channel when relayed, or bare on a host or srflx pair;
 * `take` gets them as werift's ICE connection would hand them on. STUN and DTLS go on to
 * werift's listener as before. Spares each packet werift's address array, its TURN and STUN
 * parsing and three event dispatches; false (the ICE-level hook alone) over TCP or when the
 * internals are not there.
 */
function takeBelowIce(connection: IceConnection, take: (media: Buffer) => void): boolean {
  const pair = connection.nominated;
  const protocol = pair?.protocol;
  const turn = protocol?.turn;
  const transport = turn ? turn.transport : protocol?.transport;
  const udp = transport?.socket;
  if (!pair || transport?.type !== "udp" || typeof udp?.listeners !== "function") return false;
  if (turn && typeof turn.addrByChannel !== "object") return false;
  // werift's transport listens with one handler, which builds an address array per datagram.
  const listeners = udp.listeners("message") as Array<(data: Buffer, info: RemoteInfo) => void>;
  if (listeners.length !== 1) return false;
  const werift = listeners[0]!;
  const media = (packet: Buffer) => {
    // The pair's counts werift's getStats reports (candidate-pair packetsReceived, bytesReceived).
    pair.packetsReceived++;
    pair.bytesReceived += packet.length;
    take(packet);
  };
  udp.removeListener("message", werift);
  udp.on("message", (data: Buffer, info: RemoteInfo) => {
    if (!turn) {
      if (isMedia(data[0])) return media(data);
    } else if ((data[0]! & 0xc0) === 0x40 && data.length >= 4 && isMedia(data[4])) {
      const end = 4 + data.readUInt16BE(2);
      if (end <= data.length && turn.addrByChannel![data.readUInt16BE(0)]) return media(data.subarray(4, end));
    }
    werift(data, info);
  });
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
  if (!turn) {
    const to = pair.remoteAddr;
    // Not connected (see connectToServer): werift goes on checking the partner's other candidates.
    return Array.isArray(to) ? new DirectSend(connection, pair, (data) => socket.send(data, to[1], to[0]), null) : null;
  }
  const channel = turn.channelByAddr?.[JSON.stringify(pair.remoteAddr)];
  const server = turn.pinnedServerEndpoint;
  if (!channel || typeof channel.number !== "number" || typeof channel.refreshAt !== "number" || !Array.isArray(server)) return null;
  return new DirectSend(connection, pair, connectToServer(socket, server), channel);
}

/** What a connected UDP socket's receive reports of an ICMP error: the other end is unreachable. */
const unreachable = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH"]);

/**
 * Connects werift's TURN client socket to its server (a TURN client's socket talks to no one
 * else): a connected UDP socket sends without Node's per-datagram address lookup (a `dns.lookup`
 * call and a tick) and the kernel's route lookup. werift's own sends to the server go on (their
 * address dropped once connected); one to any other address disconnects the socket first, which
 * on Linux also gives werift's socket (bound to port 0) a new port: never seen on a TURN client's
 * socket. For that reason a host pair's socket is not connected: there werift keeps checking the
 * partner's other candidates after nomination, and the call lost its port (in the NAT lab), though
 * side by side on loopback the connected host pair cost 6-7 % less per packet. The send it
 * returns uses the address until the connect completes.
 *
 * A connected socket also hears the ICMP errors an unconnected one ignores: when the server is
 * gone, its next receive fails (ECONNREFUSED for "port unreachable"; a host or network
 * unreachable alike), which Node emits as an `error` event, and werift's socket has no listener
 * for one (the thread would die of it). It is not an error here: ICE's consent checks are what
 * notice a peer gone, and end the call.
 */
export function connectToServer(udp: UdpSocket, [host, port]: Address): (data: Buffer) => void {
  type Send = (data: Buffer, ...rest: unknown[]) => void;
  const send = udp.send.bind(udp) as Send;
  let connected = false;
  udp.on("error", (e: NodeJS.ErrnoException) => {
    // Anything else stays what it was without this listener: uncaught.
    if (!unreachable.has(e.code ?? "")) throw e;
  });
  (udp as unknown as { send: Send }).send = (data, ...rest) => {
    if (connected && rest[0] === port && rest[1] === host) return send(data, ...rest.slice(2));
    if (connected && rest.length >= 2 && typeof rest[0] === "number") {
      udp.disconnect();
      connected = false;
    }
    send(data, ...rest);
  };
  try {
    udp.connect(port, host, () => (connected = true));
  } catch {
    // Connected already (by someone else): werift's sends keep their address, so stay unconnected.
    return (data) => send(data, port, host);
  }
  return (data) => (connected ? send(data) : send(data, port, host));
}
