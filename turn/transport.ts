/**
 * STUN/TURN transports: UDP, TCP and TLS sockets that carry STUN messages and ChannelData, and
 * a transaction layer (RFC 8489 §6.2) that matches answers by transaction id and retransmits
 * over UDP.
 */
import dgram from "node:dgram";
import net from "node:net";
import tls from "node:tls";
import { performance } from "node:perf_hooks";
import { decode, decodeChannelData, encode, isChannelData, isStun, type EncodeOptions, type StunMessage, type TransportAddress } from "./stun.ts";

export const transportKinds = ["udp", "tcp", "tls"] as const;
export type TransportKind = (typeof transportKinds)[number];

export interface Incoming {
  msg?: StunMessage;
  channel?: { channel: number; data: Buffer };
  from: TransportAddress;
}

export interface TlsInfo {
  authorized: boolean;
  /** e.g. DEPTH_ZERO_SELF_SIGNED_CERT, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID */
  authorizationError?: string;
  protocol?: string;
  subject?: string;
  issuer?: string;
  validFrom?: string;
  validTo?: string;
  selfSigned: boolean;
  daysLeft?: number;
}

/** Network-level failure with a stable code the checks turn into words. */
export class TransportError extends Error {
  readonly code: "TIMEOUT" | "REFUSED" | "UNREACHABLE" | "TLS" | "CLOSED" | "NETWORK";
  constructor(code: TransportError["code"], message: string) {
    super(message);
    this.name = "TransportError";
    this.code = code;
  }
}

function family(address: string): 4 | 6 {
  return net.isIPv6(address) ? 6 : 4;
}

function classifySocketError(err: NodeJS.ErrnoException): TransportError {
  if (err.code === "ECONNREFUSED") return new TransportError("REFUSED", "connection refused");
  if (err.code === "EHOSTUNREACH" || err.code === "ENETUNREACH") return new TransportError("UNREACHABLE", `host unreachable (${err.code})`);
  if (err.code === "ECONNRESET" || err.code === "EPIPE") return new TransportError("CLOSED", `connection closed by the server (${err.code})`);
  if (err.code?.startsWith("ERR_TLS") || err.code?.startsWith("ERR_SSL") || /SSL|TLS/i.test(err.message)) return new TransportError("TLS", `TLS failed: ${err.message}`);
  return new TransportError("NETWORK", err.message);
}

export interface OpenOptions {
  /** IP address of the server (already resolved). */
  host: string;
  port: number;
  /** TLS SNI and the name the certificate is checked against. */
  servername?: string;
  timeoutMs: number;
  /** Local address to bind (UDP) or connect from. */
  localAddress?: string;
}

/**
 * One socket towards a STUN/TURN server. Over UDP it may also send to other addresses (RFC 5780
 * tests talk to the server's alternate address from the same local port).
 */
export class StunSocket {
  readonly kind: TransportKind;
  readonly server: { host: string; port: number };
  tlsInfo?: TlsInfo;
  local: { address: string; port: number } = { address: "", port: 0 };
  private udp?: dgram.Socket;
  private stream?: net.Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private pending = new Map<string, (inc: Incoming) => void>();
  private listeners: ((inc: Incoming) => void)[] = [];
  private closed = false;
  private closeError?: TransportError;

  private constructor(kind: TransportKind, server: { host: string; port: number }) {
    this.kind = kind;
    this.server = server;
  }

  static async open(kind: TransportKind, opts: OpenOptions): Promise<StunSocket> {
    const s = new StunSocket(kind, { host: opts.host, port: opts.port });
    if (kind === "udp") await s.openUdp(opts);
    else await s.openStream(kind, opts);
    return s;
  }

  private async openUdp(opts: OpenOptions) {
    const sock = dgram.createSocket(family(opts.host) === 6 ? "udp6" : "udp4");
    this.udp = sock;
    sock.on("message", (buf, rinfo) => this.dispatch(buf, { family: rinfo.family === "IPv6" ? 6 : 4, address: rinfo.address, port: rinfo.port }));
    sock.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.bind(0, opts.localAddress, () => {
        sock.off("error", reject);
        resolve();
      });
    });
    const a = sock.address();
    this.local = { address: a.address, port: a.port };
  }

  private async openStream(kind: "tcp" | "tls", opts: OpenOptions) {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        s.destroy();
        reject(new TransportError("TIMEOUT", `no ${kind.toUpperCase()} connection within ${opts.timeoutMs} ms`));
      }, opts.timeoutMs);
      const done = (err?: Error) => {
        clearTimeout(timer);
        if (err) reject(classifySocketError(err));
        else resolve(s);
      };
      const s: net.Socket =
        kind === "tls"
          ? tls.connect({
              host: opts.host,
              port: opts.port,
              // SNI must be a name, not an address (RFC 6066 §3).
              servername: opts.servername && !net.isIP(opts.servername) ? opts.servername : undefined,
              // We judge the certificate ourselves and report it, instead of refusing to look.
              rejectUnauthorized: false,
            })
          : net.connect({ host: opts.host, port: opts.port, localAddress: opts.localAddress });
      s.once(kind === "tls" ? "secureConnect" : "connect", () => done());
      s.once("error", (e) => done(e));
    });
    this.stream = sock;
    sock.setNoDelay(true);
    if (kind === "tls") this.tlsInfo = describeTls(sock as tls.TLSSocket, opts.servername ?? opts.host);
    this.local = { address: sock.localAddress ?? "", port: sock.localPort ?? 0 };
    const from: TransportAddress = { family: family(opts.host), address: opts.host, port: opts.port };
    sock.on("data", (chunk: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      this.drainStream(from);
    });
    sock.on("error", (e: Error) => (this.closeError = classifySocketError(e)));
    sock.on("close", () => {
      this.closed = true;
      this.closeError ??= new TransportError("CLOSED", "connection closed by the server");
    });
  }

  /** Splits a byte stream into STUN messages and padded ChannelData frames (RFC 8656 §12.5). */
  private drainStream(from: TransportAddress) {
    for (;;) {
      const b = this.buffered;
      if (b.length < 4) return;
      let size: number;
      if (isChannelData(b)) size = 4 + ((b.readUInt16BE(2) + 3) & ~3);
      else if ((b[0]! & 0xc0) === 0) {
        if (b.length < 20) return;
        size = 20 + b.readUInt16BE(2);
      } else {
        // Not STUN and not ChannelData: the stream is out of sync; drop it rather than guess.
        this.closeError = new TransportError("NETWORK", "the server sent bytes that are neither STUN nor ChannelData");
        this.stream?.destroy();
        return;
      }
      if (b.length < size) return;
      this.buffered = b.subarray(size);
      this.dispatch(b.subarray(0, size), from);
    }
  }

  private dispatch(buf: Buffer, from: TransportAddress) {
    let inc: Incoming;
    try {
      if (isChannelData(buf)) inc = { channel: decodeChannelData(buf), from };
      else if (isStun(buf)) inc = { msg: decode(buf), from };
      else return;
    } catch {
      return; // A malformed datagram is ignored, as §6.3 says for unparseable messages.
    }
    if (inc.msg && (inc.msg.cls === "success" || inc.msg.cls === "error")) {
      const waiter = this.pending.get(inc.msg.transactionId.toString("hex"));
      if (waiter) {
        waiter(inc);
        return;
      }
    }
    for (const l of this.listeners) l(inc);
  }

  /** Indications and ChannelData that are not answers to our requests. */
  onIncoming(listener: (inc: Incoming) => void): () => void {
    this.listeners.push(listener);
    return () => (this.listeners = this.listeners.filter((l) => l !== listener));
  }

  get isStream(): boolean {
    return this.kind !== "udp";
  }

  sendRaw(buf: Buffer, to?: { address: string; port: number }) {
    if (this.closed) throw this.closeError ?? new TransportError("CLOSED", "socket closed");
    if (this.udp) this.udp.send(buf, to?.port ?? this.server.port, to?.address ?? this.server.host);
    else this.stream!.write(buf);
  }

  /**
   * Sends a request and waits for its answer (RFC 8489 §6.2). Over UDP it retransmits with
   * doubling intervals starting at `rtoMs`; over TCP/TLS the stream is reliable, so it only waits.
   */
  async request(
    msg: StunMessage,
    opts: { timeoutMs: number; encode?: EncodeOptions; to?: { address: string; port: number }; rtoMs?: number },
  ): Promise<{ res: StunMessage; from: TransportAddress; rttMs: number }> {
    const bytes = encode(msg, opts.encode);
    const id = msg.transactionId.toString("hex");
    const start = performance.now();
    return await new Promise((resolve, reject) => {
      let rto = opts.rtoMs ?? 250;
      let retransmit: NodeJS.Timeout | undefined;
      let lastSent = start;
      const finish = (err?: Error, inc?: Incoming) => {
        clearTimeout(deadline);
        clearTimeout(retransmit);
        clearInterval(watch);
        this.pending.delete(id);
        if (err) reject(err);
        // RTT from the last transmission: a late answer to an earlier copy would only overstate it (Karn).
        else resolve({ res: inc!.msg!, from: inc!.from, rttMs: performance.now() - lastSent });
      };
      const deadline = setTimeout(() => finish(new TransportError("TIMEOUT", `no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
      const watch = setInterval(() => {
        if (this.closed) finish(this.closeError ?? new TransportError("CLOSED", "connection closed"));
      }, 20);
      this.pending.set(id, (inc) => finish(undefined, inc));
      const send = () => {
        try {
          lastSent = performance.now();
          this.sendRaw(bytes, opts.to);
        } catch (e) {
          finish(e as Error);
          return;
        }
        if (this.udp) {
          retransmit = setTimeout(send, rto);
          rto *= 2;
        }
      };
      send();
    });
  }

  close() {
    this.closed = true;
    this.closeError = new TransportError("CLOSED", "closed");
    this.pending.clear();
    try {
      this.udp?.close();
    } catch {
      // already closed
    }
    this.stream?.destroy();
  }
}

function describeTls(sock: tls.TLSSocket, expectedName: string): TlsInfo {
  const cert = sock.getPeerCertificate();
  const name = (o: unknown) =>
    o && typeof o === "object" ? Object.entries(o as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`).join(", ") : undefined;
  const err = sock.authorizationError ? String((sock.authorizationError as unknown as { code?: string }).code ?? sock.authorizationError) : undefined;
  let authorizationError = err;
  // Node checks the chain but not the name when rejectUnauthorized is off; check it ourselves.
  if (!authorizationError && cert && Object.keys(cert).length > 0) {
    const bad = tls.checkServerIdentity(expectedName, cert);
    if (bad) authorizationError = (bad as NodeJS.ErrnoException).code ?? bad.message;
  }
  const validTo = cert?.valid_to;
  const daysLeft = validTo ? Math.floor((Date.parse(validTo) - Date.now()) / 86_400_000) : undefined;
  return {
    authorized: !authorizationError,
    authorizationError,
    protocol: sock.getProtocol() ?? undefined,
    subject: name(cert?.subject),
    issuer: name(cert?.issuer),
    validFrom: cert?.valid_from,
    validTo,
    selfSigned: authorizationError === "DEPTH_ZERO_SELF_SIGNED_CERT" || authorizationError === "SELF_SIGNED_CERT_IN_CHAIN",
    daysLeft,
  };
}
