/**
 * Network impairment below the measuring code: a loopback proxy in front of the TURN server
 * that drops and delays what a bot sends (its uplink). Every media packet crosses exactly one
 * uplink (its sender's), so `loss` and `delay` here are the end-to-end loss and added one-way
 * delay the receiving bot should measure; the downlink is left untouched so they do not double.
 *
 * Loss hits media only: a TURN message (ChannelData or Send indication) whose peer payload is
 * SRTP/SRTCP (first byte 128–191, RFC 7983) is dropped with probability `lossPct`. STUN, ICE
 * checks and DTLS (handshake and data channel) pass: werift's DTLS handshake was seen to stall
 * for good at 5 % loss, which would measure werift's handshake rather than the call's media.
 * Over TCP the TURN frames are parsed (RFC 8656 §12.5) so whole messages are dropped, which is
 * what a lost datagram on the peer side looks like. TLS is opaque: delay only.
 *
 * Corruption flips one bit of the peer payload past its RTP header (after the TURN framing, so
 * TURN still relays it; the receiver's SRTP authentication then fails), replay sends a media
 * packet twice, and a cut drops every media packet of the first client after a while (one
 * direction of one call dying mid-call).
 */
import dgram from "node:dgram";
import net from "node:net";
import { DelayHistogram } from "./metrics.ts";

export interface Impairment {
  /** Percent of uplink packets dropped. @default 0 */
  lossPct?: number;
  /** Milliseconds added to every uplink packet. @default 0 */
  delayMs?: number;
  /** Percent of uplink media packets with one bit flipped. @default 0 */
  corruptPct?: number;
  /** Percent of uplink media packets sent twice. @default 0 */
  replayPct?: number;
  /** UDP: this long after the first client's first media packet, drop all of its media. */
  cutAfterMs?: number;
  /** Random source in [0, 1), replaceable for tests. @default Math.random */
  random?: () => number;
}

export interface ProxyCounters {
  uplinkPackets: number;
  uplinkDropped: number;
  /** Of those, SRTP (not SRTCP: the loss the bots can count). */
  uplinkDroppedRtp: number;
  uplinkCorrupted: number;
  uplinkReplayed: number;
  downlinkPackets: number;
  /** Delay the uplink packets really got (timers fire late on a busy loop). */
  held: DelayHistogram;
}

export interface ImpairProxy {
  /** The proxy's own address to put in the TURN URL instead of the real server's. */
  host: string;
  port: number;
  transport: "udp" | "tcp";
  counters: ProxyCounters;
  close(): Promise<void>;
}

/** A FIFO that releases items after a constant delay; order is kept, one timer at a time. */
class DelayLine<T> {
  private readonly queue: Array<{ at: number; item: T }> = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly delayMs: number;
  private readonly out: (item: T) => void;
  private readonly counters: ProxyCounters | null;
  constructor(delayMs: number, out: (item: T) => void, counters: ProxyCounters | null = null) {
    this.delayMs = delayMs;
    this.out = out;
    this.counters = counters;
  }
  push(item: T): void {
    if (this.delayMs <= 0) return this.out(item);
    this.queue.push({ at: performance.now() + this.delayMs, item });
    if (!this.timer) this.arm();
  }
  private arm(): void {
    const head = this.queue[0];
    if (!head) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        const t = performance.now();
        // Release everything due; a late timer must not stretch the delay of the packets behind.
        while (this.queue.length && this.queue[0]!.at <= t + 0.5) {
          const { at, item } = this.queue.shift()!;
          this.counters?.held.add(this.delayMs + (t - at));
          this.out(item);
        }
        this.arm();
      },
      Math.max(0, head.at - performance.now()),
    );
  }
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }
}

interface Fate {
  loss: number;
  corrupt: number;
  replay: number;
  delay: number;
  random: () => number;
}

function validate(imp: Impairment): Fate {
  const share = (name: string, v = 0) => {
    if (!(v >= 0 && v <= 100)) throw new RangeError(`impairment ${name} must be 0–100 %, got ${v}`);
    return v / 100;
  };
  const delay = imp.delayMs ?? 0;
  if (!(delay >= 0 && delay <= 10_000)) throw new RangeError(`impairment delay must be 0–10000 ms, got ${delay}`);
  return {
    loss: share("loss", imp.lossPct),
    corrupt: share("corruption", imp.corruptPct),
    replay: share("replay", imp.replayPct),
    delay,
    random: imp.random ?? Math.random,
  };
}

/**
 * What happens to one uplink TURN message: dropped (null), or sent once or twice, maybe with a
 * bit flipped in its media. Only SRTP/SRTCP is touched.
 */
function impairMedia(frame: Buffer, f: Fate, counters: ProxyCounters): Buffer[] {
  if (!(f.loss || f.corrupt || f.replay) || !carriesMedia(frame)) return [frame];
  if (f.loss && f.random() < f.loss) {
    counters.uplinkDropped++;
    if (!isRtcp(peerPayload(frame)!)) counters.uplinkDroppedRtp++;
    return [];
  }
  let out = frame;
  if (f.corrupt && f.random() < f.corrupt) {
    const payload = peerPayload(frame)!;
    // Past the 12-byte RTP/RTCP header, so the packet still reads as media and fails only its authentication.
    if (payload.length > 12) {
      out = Buffer.from(frame);
      const at = payload.byteOffset - frame.byteOffset + 12 + Math.floor(f.random() * (payload.length - 12));
      out[at]! ^= 1 << Math.floor(f.random() * 8);
      counters.uplinkCorrupted++;
    }
  }
  if (f.replay && f.random() < f.replay) {
    counters.uplinkReplayed++;
    return [out, out];
  }
  return [out];
}

function newCounters(): ProxyCounters {
  return { uplinkPackets: 0, uplinkDropped: 0, uplinkDroppedRtp: 0, uplinkCorrupted: 0, uplinkReplayed: 0, downlinkPackets: 0, held: new DelayHistogram() };
}

/**
 * UDP proxy: one upstream socket per client address, so the TURN server sees one 5-tuple per
 * bot exactly as without the proxy.
 */
export async function startUdpProxy(target: { host: string; port: number }, imp: Impairment, listenHost = "127.0.0.1"): Promise<ImpairProxy> {
  const fate = validate(imp);
  const counters = newCounters();
  let cut: { key: string; at: number } | null = null;
  const family = listenHost.includes(":") ? "udp6" : "udp4";
  // Large buffers: a busy event loop must not turn into kernel drops the impairment did not ask for.
  const front = dgram.createSocket({ type: family, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  const flows = new Map<string, { sock: dgram.Socket; line: DelayLine<Buffer>; idle: number }>();

  front.on("message", (msg, rinfo) => {
    const key = `${rinfo.address}:${rinfo.port}`;
    let flow = flows.get(key);
    if (!flow) {
      const sock = dgram.createSocket(target.host.includes(":") ? "udp6" : "udp4");
      sock.on("message", (reply) => {
        counters.downlinkPackets++;
        front.send(reply, rinfo.port, rinfo.address);
      });
      sock.on("error", () => undefined);
      const line = new DelayLine<Buffer>(fate.delay, (buf) => sock.send(buf, target.port, target.host), counters);
      flow = { sock, line, idle: 0 };
      flows.set(key, flow);
    }
    flow.idle = 0;
    counters.uplinkPackets++;
    if (imp.cutAfterMs !== undefined && carriesMedia(msg)) {
      cut ??= { key, at: performance.now() + imp.cutAfterMs };
      if (cut.key === key && performance.now() >= cut.at) {
        counters.uplinkDropped++;
        return;
      }
    }
    for (const out of impairMedia(msg, fate, counters)) flow.line.push(out);
  });
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.bind(0, listenHost, () => resolve());
  });
  front.on("error", () => undefined);
  // Flows of bots that went away are closed after a quiet minute, bounding sockets in long soaks.
  const sweep = setInterval(() => {
    for (const [key, flow] of flows) {
      if (++flow.idle > 6) {
        flow.line.clear();
        flow.sock.close();
        flows.delete(key);
      }
    }
  }, 10_000);
  sweep.unref();
  return {
    host: listenHost,
    port: front.address().port,
    transport: "udp",
    counters,
    close: async () => {
      clearInterval(sweep);
      for (const flow of flows.values()) {
        flow.line.clear();
        flow.sock.close();
      }
      flows.clear();
      await new Promise<void>((r) => front.close(() => r()));
    },
  };
}

/**
 * Splits a TURN-over-TCP byte stream into frames. Returns complete frames and the rest.
 * STUN: 20-byte header, length at bytes 2–3. ChannelData: channel 0x4000–0x7FFF, length at
 * bytes 2–3, padded to 4 bytes over TCP (RFC 8656 §12.5).
 */
export function splitTurnFrames(buf: Buffer): { frames: Buffer[]; rest: Buffer } {
  const frames: Buffer[] = [];
  let off = 0;
  while (buf.length - off >= 4) {
    const first = buf[off]!;
    const len = buf.readUInt16BE(off + 2);
    let size: number;
    if (first >= 0x40 && first <= 0x7f) size = 4 + len + ((4 - (len % 4)) % 4);
    else size = 20 + len;
    if (buf.length - off < size) break;
    frames.push(buf.subarray(off, off + size));
    off += size;
  }
  return { frames, rest: buf.subarray(off) };
}

/** The peer payload of a ChannelData message or Send indication (method 0x006), else null. */
export function peerPayload(frame: Buffer): Buffer | null {
  if (frame.length < 4) return null;
  const first = frame[0]!;
  if (first >= 0x40 && first <= 0x7f) return frame.subarray(4, 4 + frame.readUInt16BE(2));
  if (frame.length < 20 || frame.readUInt16BE(0) !== 0x0016) return null;
  // Walk the attributes for DATA (0x0013); each is 4-byte aligned (RFC 8489 §14).
  let off = 20;
  const end = Math.min(frame.length, 20 + frame.readUInt16BE(2));
  while (off + 4 <= end) {
    const type = frame.readUInt16BE(off);
    const len = frame.readUInt16BE(off + 2);
    if (type === 0x0013) return frame.subarray(off + 4, off + 4 + len);
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  return null;
}

/** Whether a TURN message from a client carries media (SRTP/SRTCP, RFC 7983 §7) to its peer. */
export function carriesMedia(frame: Buffer): boolean {
  const payload = peerPayload(frame);
  if (!payload || payload.length === 0) return false;
  return payload[0]! >= 128 && payload[0]! <= 191;
}

/** SRTCP rather than SRTP: the packet type byte of RTCP is 192–223 (RFC 5761 §4). */
function isRtcp(payload: Buffer): boolean {
  return payload.length > 1 && payload[1]! >= 192 && payload[1]! <= 223;
}

/** TCP proxy (TURN over TCP, or TLS with `opaque: true`, which allows delay only). */
export async function startTcpProxy(
  target: { host: string; port: number },
  imp: Impairment,
  opts: { opaque?: boolean; listenHost?: string } = {},
): Promise<ImpairProxy> {
  const fate = validate(imp);
  if (opts.opaque && (fate.loss || fate.corrupt || fate.replay))
    throw new RangeError("loss, corruption and replay cannot be applied inside TLS; use UDP or TCP TURN");
  const counters = newCounters();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect(target.port, target.host);
    upstream.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    const line = new DelayLine<Buffer>(fate.delay, (buf) => upstream.write(buf), counters);
    let pending: Buffer = Buffer.alloc(0);
    client.on("data", (chunk) => {
      if (opts.opaque) {
        counters.uplinkPackets++;
        return line.push(chunk);
      }
      const { frames, rest } = splitTurnFrames(pending.length ? Buffer.concat([pending, chunk]) : chunk);
      pending = Buffer.from(rest);
      const kept: Buffer[] = [];
      for (const f of frames) {
        counters.uplinkPackets++;
        kept.push(...impairMedia(f, fate, counters));
      }
      if (kept.length) line.push(Buffer.concat(kept));
    });
    upstream.on("data", (chunk) => {
      counters.downlinkPackets++;
      client.write(chunk);
    });
    const end = () => {
      line.clear();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", end);
    upstream.on("error", end);
  });
  const listenHost = opts.listenHost ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, listenHost, () => resolve());
  });
  return {
    host: listenHost,
    port: (server.address() as net.AddressInfo).port,
    transport: "tcp",
    counters,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Proxies in front of each TURN endpoint, and the rewrite map that points bots at them. */
export async function startImpairment(
  endpoints: Array<{ host: string; port: number; transport: "udp" | "tcp" | "tls" }>,
  imp: Impairment,
): Promise<{ rewrites: Record<string, string>; proxies: ImpairProxy[]; close(): Promise<void> }> {
  const proxies: ImpairProxy[] = [];
  const rewrites: Record<string, string> = {};
  try {
    for (const e of endpoints) {
      // Loss, corruption and replay cannot act inside TLS: such endpoints are left out rather than half-impaired.
      if (e.transport === "tls" && ((imp.lossPct ?? 0) > 0 || (imp.corruptPct ?? 0) > 0 || (imp.replayPct ?? 0) > 0)) continue;
      const proxy = e.transport === "udp" ? await startUdpProxy(e, imp) : await startTcpProxy(e, imp, { opaque: e.transport === "tls" });
      proxies.push(proxy);
      rewrites[`${e.transport}/${e.host}:${e.port}`] = `${proxy.host}:${proxy.port}`;
    }
  } catch (err) {
    await Promise.all(proxies.map((p) => p.close()));
    throw err;
  }
  return { rewrites, proxies, close: async () => void (await Promise.all(proxies.map((p) => p.close()))) };
}
