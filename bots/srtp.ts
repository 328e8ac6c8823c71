/**
 * SRTP with AES-GCM (RFC 7714) for the bots' own RTP path: one `KeyObject` per session, one
 * Node cipher per packet (Node cannot re-key or re-IV a GCM cipher), the RTP header written and
 * read with plain buffer reads. The session keys are the ones werift derived from its DTLS
 * handshake (RFC 3711 §4.3 KDF); this module only applies them.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from "node:crypto";
import { GcmKey, Keystreams, open, seal, shortGcmMaxBytes } from "./gcm.ts";
import { SsrcMap } from "./ssrc-map.ts";

export const gcmTagBytes = 16;
const rtpHeaderBytes = 12;

/** An RTP packet as the bots' media path sees it. */
export interface RtpFields {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  ssrc: number;
  payload: Buffer;
}

/** Session keys for one direction (werift's `SrtpContext`: `srtpSessionKey`, `srtpSessionSalt`). */
export interface GcmKeys {
  key: Buffer;
  /** At least 12 bytes; RFC 7714's salt is the first 12. */
  salt: Buffer;
}

/**
 * RFC 7714 §8.1: IV = (0x0000 || SSRC || ROC || SEQ) XOR salt, 12 bytes, written into `iv` at
 * `at` (one buffer per session: Node copies it into the cipher).
 */
function rtpIv(iv: Buffer, at: number, salt: Buffer, ssrc: number, roc: number, seq: number): Buffer {
  // Byte by byte: Buffer's checked writers and a loop were 2 % of a bot's CPU.
  iv[at] = salt[0]!;
  iv[at + 1] = salt[1]!;
  iv[at + 2] = (ssrc >>> 24) ^ salt[2]!;
  iv[at + 3] = ((ssrc >>> 16) & 0xff) ^ salt[3]!;
  iv[at + 4] = ((ssrc >>> 8) & 0xff) ^ salt[4]!;
  iv[at + 5] = (ssrc & 0xff) ^ salt[5]!;
  iv[at + 6] = (roc >>> 24) ^ salt[6]!;
  iv[at + 7] = ((roc >>> 16) & 0xff) ^ salt[7]!;
  iv[at + 8] = ((roc >>> 8) & 0xff) ^ salt[8]!;
  iv[at + 9] = (roc & 0xff) ^ salt[9]!;
  iv[at + 10] = ((seq >>> 8) & 0xff) ^ salt[10]!;
  iv[at + 11] = (seq & 0xff) ^ salt[11]!;
  return iv;
}

/** The keystreams of one SSRC's packets, by index (ROC · 2^16 + SEQ). */
function keystreams(key: GcmKey, salt: Buffer, ssrc: number): Keystreams {
  return new Keystreams(key, (index, into, at) => rtpIv(into, at, salt, ssrc, Math.floor(index / 0x10000), index & 0xffff));
}

/** Rollover state of one SSRC (RFC 3711 §3.3.1), and its short packets' keystreams. */
interface SsrcState {
  roc: number;
  last: number;
  keystreams: Keystreams | null;
}

/** Sender side: the rollover counter of every SSRC it sends (RFC 3711 §3.3.1). */
export class GcmSender {
  private readonly key: KeyObject;
  private readonly short: GcmKey;
  private readonly salt: Buffer;
  private readonly roc = new SsrcMap<SsrcState>();
  private readonly iv = Buffer.alloc(12);

  constructor(keys: GcmKeys) {
    this.key = createSecretKey(keys.key);
    this.short = new GcmKey(this.key);
    this.salt = Buffer.from(keys.salt.subarray(0, 12));
  }

  /**
   * The SRTP packet: a 12-byte RTP header (no CSRC, no extension), the encrypted payload, the
   * tag; after `headroom` bytes left for the caller's framing (TURN ChannelData), so the packet
   * is not copied again to frame it.
   */
  protect(p: RtpFields, headroom = 0): Buffer {
    let s = this.roc.get(p.ssrc);
    if (!s) this.roc.set(p.ssrc, (s = { roc: 0, last: p.sequenceNumber, keystreams: null }));
    else if (p.sequenceNumber < s.last && s.last - p.sequenceNumber > 0x8000) s.roc = (s.roc + 1) >>> 0;
    s.last = p.sequenceNumber;
    const buf = Buffer.allocUnsafe(headroom + rtpHeaderBytes + p.payload.length + gcmTagBytes);
    const out = headroom ? buf.subarray(headroom) : buf;
    out[0] = 0x80;
    out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
    out.writeUInt16BE(p.sequenceNumber, 2);
    out.writeUInt32BE(p.timestamp >>> 0, 4);
    out.writeUInt32BE(p.ssrc >>> 0, 8);
    if (p.payload.length <= shortGcmMaxBytes) {
      s.keystreams ??= keystreams(this.short, this.salt, p.ssrc);
      const ks = s.keystreams.get(s.roc * 0x10000 + p.sequenceNumber, p.payload.length);
      seal(this.short, ks, s.keystreams.at, p.payload, buf, headroom, headroom + rtpHeaderBytes);
      return buf;
    }
    const cipher = createCipheriv("aes-128-gcm", this.key, rtpIv(this.iv, 0, this.salt, p.ssrc, s.roc, p.sequenceNumber));
    cipher.setAAD(out.subarray(0, rtpHeaderBytes));
    cipher.update(p.payload).copy(out, rtpHeaderBytes);
    cipher.final();
    cipher.getAuthTag().copy(out, rtpHeaderBytes + p.payload.length);
    return buf;
  }
}

/** A received packet and its index, ROC · 2^16 + SEQ (RFC 3711 §3.3.1), for a replay window. */
export type ReceivedFields = RtpFields & { index: number };

/** Why a packet was not accepted: `short` and `auth` are corrupt or forged, `format` not RTP v2. */
export type UnprotectError = "short" | "format" | "auth";

/** Receiver side: estimates each SSRC's rollover counter (RFC 3711 §3.3.1) and authenticates. */
export class GcmReceiver {
  private readonly key: KeyObject;
  private readonly short: GcmKey;
  private readonly salt: Buffer;
  private readonly roc = new SsrcMap<SsrcState>();
  private readonly iv = Buffer.alloc(12);

  constructor(keys: GcmKeys) {
    this.key = createSecretKey(keys.key);
    this.short = new GcmKey(this.key);
    this.salt = Buffer.from(keys.salt.subarray(0, 12));
  }

  /** The decrypted packet, or why it was dropped. Header extensions and padding are skipped. */
  unprotect(buf: Buffer): ReceivedFields | UnprotectError {
    if (buf.length < rtpHeaderBytes + gcmTagBytes) return "short";
    const b0 = buf[0]!;
    if (b0 >> 6 !== 2) return "format";
    let offset = rtpHeaderBytes + (b0 & 0x0f) * 4;
    if (b0 & 0x10) {
      if (buf.length < offset + 4) return "short";
      offset += 4 + buf.readUInt16BE(offset + 2) * 4;
    }
    const tagAt = buf.length - gcmTagBytes;
    if (offset > tagAt) return "short";
    const ssrc = buf.readUInt32BE(8);
    const seq = buf.readUInt16BE(2);
    // The ROC this packet was most likely sent with, relative to the last one accepted.
    const s = this.roc.get(ssrc);
    let roc = s?.roc ?? 0;
    if (s) {
      if (seq < s.last && s.last - seq > 0x8000) roc = (roc + 1) >>> 0;
      else if (seq > s.last && seq - s.last > 0x8000 && roc > 0) roc = roc - 1;
    }
    let clear: Buffer;
    if (tagAt - offset <= shortGcmMaxBytes) {
      // Keystreams are kept only for an SSRC already authenticated: a forged one adds nothing.
      const index = roc * 0x10000 + seq;
      const ks = s ? (s.keystreams ??= keystreams(this.short, this.salt, ssrc)) : keystreams(this.short, this.salt, ssrc);
      const span = s ? ks.get(index, tagAt - offset) : ks.one(index, tagAt - offset);
      const opened = open(this.short, span, ks.at, buf, offset, tagAt);
      if (!opened) return "auth";
      clear = opened;
    } else {
      const decipher = createDecipheriv("aes-128-gcm", this.key, rtpIv(this.iv, 0, this.salt, ssrc, roc, seq));
      decipher.setAAD(buf.subarray(0, offset));
      decipher.setAuthTag(buf.subarray(tagAt));
      clear = decipher.update(buf.subarray(offset, tagAt));
      try {
        decipher.final();
      } catch {
        return "auth";
      }
    }
    // Only an authenticated packet moves the rollover state (a forged one must not).
    if (!s) this.roc.set(ssrc, { roc, last: seq, keystreams: null });
    else if (roc > s.roc || (roc === s.roc && seq > s.last)) {
      s.roc = roc;
      s.last = seq;
    }
    let payload = clear;
    if (b0 & 0x20 && clear.length > 0) {
      const pad = clear[clear.length - 1]!;
      if (pad === 0 || pad > clear.length) return "format";
      payload = clear.subarray(0, clear.length - pad);
    }
    return {
      payloadType: buf[1]! & 0x7f,
      marker: (buf[1]! & 0x80) !== 0,
      sequenceNumber: seq,
      timestamp: buf.readUInt32BE(4),
      ssrc,
      payload,
      index: roc * 0x10000 + seq,
    };
  }
}
