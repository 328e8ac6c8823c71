/**
 * The bots' own RTCP for synthetic media (RFC 3550 §6): one compound packet per bot every
 * 0.5-1.5 s — a sender report per sending SSRC, report blocks on every stream received, the
 * CNAME — and the round trip read back from the partner's report blocks (§6.4.1). werift's RTCP
 * sent a packet per sender and per receiver on its own timer, built from objects and async
 * loops, and cost about a tenth of a bot's CPU; here the reports are written into one buffer
 * from counters the RTP path keeps anyway, and sent from the sender's pacer tick (no timers).
 * SRTCP protection stays werift's (`dtlsTransport.srtcp`): the caller encrypts and decrypts.
 * On hang-up the last report ends with a BYE (§6.6), as browsers send: the partner stops
 * counting its call there.
 */

import { SsrcMap } from "./ssrc-map.ts";

/** RTCP packet types (RFC 3550 §12.1). */
const SR = 200;
const RR = 201;
const SDES = 202;
const BYE = 203;
/** RFC 3550 §6.3.5: reports at a random 0.5-1.5 times the interval (here 1 s, as werift and browsers). */
const intervalMs = 1000;
/** Seconds between 1900 (NTP's epoch) and 1970. */
const ntpEpochOffset = 2208988800;

/** One stream this bot sends: what its sender report says. */
interface Outgoing {
  ssrc: number;
  clockRate: number;
  packets: number;
  octets: number;
  /** The last RTP timestamp sent and when (wall clock, ms): the report's RTP time is extrapolated from it. */
  rtpTimestamp: number;
  rtpAt: number;
  /** The middle 32 bits of the last report's NTP time (RFC 3550 §6.4.1 LSR) and when it was sent. */
  lastReport: { lsr: number; at: number } | null;
}

/** One stream received: RFC 3550 Appendix A.3 and A.8 state for its report block. */
interface Incoming {
  ssrc: number;
  clockRate: number;
  /** Extended sequence numbers (ROC · 2^16 + SEQ). */
  base: number;
  max: number;
  received: number;
  expectedPrior: number;
  receivedPrior: number;
  /** Interarrival jitter in RTP units, and the last transit time (A.8). */
  jitter: number;
  transit: number | null;
  /** The partner's last sender report on this SSRC: its LSR and when it arrived (ms). */
  lastReport: { lsr: number; at: number } | null;
}

/** NTP time of a wall-clock instant in ms: [seconds since 1900, 2^-32 fractions]. */
function ntp(ms: number): [number, number] {
  const seconds = Math.floor(ms / 1000);
  return [(seconds + ntpEpochOffset) >>> 0, Math.floor(((ms - seconds * 1000) / 1000) * 2 ** 32) >>> 0];
}

export class RtcpReports {
  private readonly out: Outgoing[];
  private readonly incoming = new SsrcMap<Incoming>();
  private readonly cname: Buffer;
  private nextAt: number;
  /** A round trip (ms) from a report block about one of our streams. */
  onRoundTrip: (ssrc: number, ms: number) => void = () => undefined;
  /** The partner said BYE for a stream we receive: it left. */
  onBye: (ssrc: number) => void = () => undefined;

  constructor(out: Array<{ ssrc: number; clockRate: number }>, cname: string, ms = Date.now()) {
    this.out = out.map((o) => ({ ...o, packets: 0, octets: 0, rtpTimestamp: 0, rtpAt: 0, lastReport: null }));
    // An SDES item holds at most 255 bytes (RFC 3550 §6.5).
    this.cname = Buffer.from(cname).subarray(0, 255);
    this.nextAt = ms + intervalMs * (0.5 + Math.random());
  }

  /** An RTP packet sent on one of our streams (index into the constructor's list). */
  sent(stream: number, rtpTimestamp: number, payloadBytes: number, ms: number): void {
    const o = this.out[stream]!;
    o.packets++;
    o.octets += payloadBytes;
    o.rtpTimestamp = rtpTimestamp;
    o.rtpAt = ms;
  }

  /** An authenticated, non-replayed RTP packet received: `index` its extended sequence number. */
  received(ssrc: number, clockRate: number, index: number, rtpTimestamp: number, ms: number): void {
    let s = this.incoming.get(ssrc);
    if (!s) {
      s = { ssrc, clockRate, base: index, max: index, received: 0, expectedPrior: 0, receivedPrior: 0, jitter: 0, transit: null, lastReport: null };
      this.incoming.set(ssrc, s);
    }
    s.received++;
    if (index > s.max) s.max = index;
    // A.8: transit time in RTP units; its changes smoothed by 1/16.
    const transit = (ms * s.clockRate) / 1000 - rtpTimestamp;
    if (s.transit !== null) {
      let d = transit - s.transit;
      if (d < 0) d = -d;
      // An RTP timestamp wrap shows as a jump of 2^32 units: not jitter.
      if (d < 2 ** 31) s.jitter += (d - s.jitter) / 16;
    }
    s.transit = transit;
  }

  /** The compound report when one is due (its time came), else null. */
  due(ms: number): Buffer | null {
    if (ms < this.nextAt) return null;
    this.nextAt = ms + intervalMs * (0.5 + Math.random());
    return this.report(ms);
  }

  /**
   * SR for each sending stream (the first carries the report blocks), then SDES with the CNAME;
   * with `bye`, a BYE for every stream last (RFC 3550 §6.1: BYE ends a compound packet).
   */
  report(ms: number, bye = false): Buffer {
    const blocks = this.incoming.values().slice(0, 31);
    const sdesChunk = 4 + 2 + this.cname.length;
    const sdesLength = 4 + this.out.length * (Math.ceil((sdesChunk + 1) / 4) * 4);
    const srLength = (blocks: number) => 28 + 24 * blocks;
    const byeLength = bye ? 4 + 4 * this.out.length : 0;
    const buf = Buffer.alloc(srLength(blocks.length) + (this.out.length - 1) * srLength(0) + sdesLength + byeLength);
    const [seconds, fraction] = ntp(ms);
    let at = 0;
    this.out.forEach((o, i) => {
      const mine = i === 0 ? blocks : [];
      const length = srLength(mine.length);
      buf[at] = 0x80 | mine.length;
      buf[at + 1] = SR;
      buf.writeUInt16BE(length / 4 - 1, at + 2);
      buf.writeUInt32BE(o.ssrc >>> 0, at + 4);
      buf.writeUInt32BE(seconds, at + 8);
      buf.writeUInt32BE(fraction, at + 12);
      // Nothing sent on this stream yet: no RTP time to extrapolate from.
      const rtpNow = o.packets ? o.rtpTimestamp + Math.round(((ms - o.rtpAt) * o.clockRate) / 1000) : 0;
      buf.writeUInt32BE(rtpNow >>> 0, at + 16);
      buf.writeUInt32BE(o.packets >>> 0, at + 20);
      buf.writeUInt32BE(o.octets >>> 0, at + 24);
      o.lastReport = { lsr: (((seconds & 0xffff) << 16) | (fraction >>> 16)) >>> 0, at: ms };
      let b = at + 28;
      for (const s of mine) {
        writeBlock(buf, b, s, ms);
        b += 24;
      }
      at += length;
    });
    // SDES: one CNAME chunk per SSRC, each ended by a null item and padded to 32 bits (§6.5).
    buf[at] = 0x80 | this.out.length;
    buf[at + 1] = SDES;
    buf.writeUInt16BE(sdesLength / 4 - 1, at + 2);
    let c = at + 4;
    for (const o of this.out) {
      buf.writeUInt32BE(o.ssrc >>> 0, c);
      buf[c + 4] = 1; // CNAME
      buf[c + 5] = this.cname.length;
      this.cname.copy(buf, c + 6);
      c += Math.ceil((sdesChunk + 1) / 4) * 4;
    }
    if (bye) {
      buf[c] = 0x80 | this.out.length;
      buf[c + 1] = BYE;
      buf.writeUInt16BE(byeLength / 4 - 1, c + 2);
      this.out.forEach((o, i) => buf.writeUInt32BE(o.ssrc >>> 0, c + 4 + 4 * i));
    }
    return buf;
  }

  /**
   * Reads a decrypted compound packet from the partner: its sender reports (for our next report
   * blocks' LSR and DLSR), its report blocks on our streams (the round trip) and a BYE for a
   * stream we receive. False when it is not well-formed RTCP; other packet types (SDES,
   * feedback) are skipped.
   */
  read(rtcp: Buffer, ms: number): boolean {
    let at = 0;
    while (at + 4 <= rtcp.length) {
      const b0 = rtcp[at]!;
      const type = rtcp[at + 1]!;
      const end = at + 4 * (rtcp.readUInt16BE(at + 2) + 1);
      if (b0 >> 6 !== 2 || end > rtcp.length) return false;
      const count = b0 & 0x1f;
      const blocksAt = type === SR ? at + 28 : at + 8;
      if ((type === SR || type === RR) && blocksAt + 24 * count > end) return false;
      if (type === SR) {
        const s = this.incoming.get(rtcp.readUInt32BE(at + 4));
        if (s) s.lastReport = { lsr: rtcp.readUInt32BE(at + 10), at: ms };
      }
      if (type === SR || type === RR) for (let i = 0; i < count; i++) this.readBlock(rtcp, blocksAt + 24 * i, ms);
      if (type === BYE && at + 4 + 4 * count <= end)
        for (let i = 0; i < count; i++) {
          const ssrc = rtcp.readUInt32BE(at + 4 + 4 * i);
          if (this.incoming.get(ssrc)) this.onBye(ssrc);
        }
      at = end;
    }
    return at === rtcp.length;
  }

  /**
   * RFC 3550 §6.4.1: round trip = now - LSR - DLSR, for a block on our last report. On loopback
   * it can be shorter than DLSR's rounding (1/65536 s): 0, never below.
   */
  private readBlock(rtcp: Buffer, at: number, ms: number): void {
    const ssrc = rtcp.readUInt32BE(at);
    const lsr = rtcp.readUInt32BE(at + 16);
    const dlsr = rtcp.readUInt32BE(at + 20);
    const o = this.out.find((x) => x.ssrc === ssrc);
    if (!o?.lastReport || lsr === 0 || lsr !== o.lastReport.lsr) return;
    this.onRoundTrip(ssrc, Math.max(0, ms - o.lastReport.at - (dlsr / 65536) * 1000));
  }
}

/** A report block (RFC 3550 §6.4.1) on one received stream; moves its interval counts on. */
function writeBlock(buf: Buffer, at: number, s: Incoming, ms: number): void {
  const expected = s.max - s.base + 1;
  const lost = expected - s.received;
  const expectedInterval = expected - s.expectedPrior;
  const lostInterval = expectedInterval - (s.received - s.receivedPrior);
  s.expectedPrior = expected;
  s.receivedPrior = s.received;
  const fraction = expectedInterval > 0 && lostInterval > 0 ? Math.min(255, Math.floor((lostInterval * 256) / expectedInterval)) : 0;
  // Cumulative loss is a signed 24-bit count, clamped (duplicates can make it negative).
  const cumulative = Math.max(-0x800000, Math.min(0x7fffff, lost)) & 0xffffff;
  buf.writeUInt32BE(s.ssrc >>> 0, at);
  buf.writeUInt32BE(((fraction << 24) | cumulative) >>> 0, at + 4);
  buf.writeUInt32BE(s.max >>> 0, at + 8);
  buf.writeUInt32BE(Math.floor(s.jitter) >>> 0, at + 12);
  const last = s.lastReport;
  buf.writeUInt32BE(last ? last.lsr : 0, at + 16);
  buf.writeUInt32BE(last ? Math.round(((ms - last.at) / 1000) * 65536) >>> 0 : 0, at + 20);
}
