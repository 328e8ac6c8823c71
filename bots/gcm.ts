/**
 * AES-128-GCM (NIST SP 800-38D) for the bots' short SRTP packets (audio: 80 bytes of payload),
 * bit for bit what Node's cipher computes, for about half its CPU. Node takes a new cipher object
 * for every packet (it cannot re-key or re-IV a GCM context): 3.5-4.5 µs whatever the length, most
 * of what a short packet costs to protect or to open. Here one long-lived AES-ECB cipher per key
 * (OpenSSL's) computes the counter blocks of a stream's next 32 packets in one call, and GHASH runs
 * in JavaScript on a 16-entry table of the hash key's multiples (Shoup's 4-bit method; McGrew and
 * Viega's GCM paper, §4.1): about 0.14 µs per 16-byte block in a loaded bot thread, so it pays
 * only for short packets (`shortGcmMaxBytes`); longer ones keep Node's cipher.
 *
 * Not a library's: @noble/ciphers 2.x's GHASH on the same keystream took 5.4 µs per 80-byte
 * packet, more than Node's own cipher (2026-12-01). The tests check every length up to the limit
 * against Node's cipher, and the GCM paper's test vectors.
 */
import { createCipheriv, type Cipheriv, type KeyObject } from "node:crypto";

/** Payloads longer than this keep Node's cipher: above it, GHASH's blocks cost more than the cipher object saves. */
export const shortGcmMaxBytes = 256;

/** How many packets' keystream one AES call computes ahead for a stream. */
const runLength = 32;

/**
 * Reduction of the nibble shifted out by a multiplication by x^4 (x^128 = x^7 + x^2 + x + 1, in
 * GCM's reflected bit order): what is XORed into the first word.
 */
const reduce4 = (() => {
  const r = new Uint32Array(16);
  for (let b = 0; b < 16; b++) {
    let v0 = 0;
    let v3 = b;
    for (let i = 0; i < 4; i++) {
      const carry = v3 & 1;
      v3 = (v3 >>> 1) | ((v0 & 1) << 31);
      v0 = (v0 >>> 1) ^ (carry ? 0xe1000000 : 0);
    }
    r[b] = v0 >>> 0;
  }
  return r;
})();

/** One AES-128 key: its ECB cipher for counter blocks and GHASH's table of the hash key H. */
export class GcmKey {
  /**
   * Entry n (4 big-endian words): the nibble n, as the first nibble of a block, times H. 256
   * bytes: a key's table is cold each time one of a thread's hundreds of streams sends, and a
   * byte-wide table (4 KiB) cost more in cache misses than its half of the steps saved.
   */
  readonly table = new Uint32Array(16 * 4);
  private readonly ecb: Cipheriv;

  constructor(key: KeyObject) {
    this.ecb = createCipheriv("aes-128-ecb", key, null);
    this.ecb.setAutoPadding(false);
    const h = this.ecb.update(Buffer.alloc(16));
    // The first nibble's most significant bit is x^0: 8 · H = H, 4 · H = H · x, and so on; the
    // other entries are sums (XORs) of those four.
    let v0 = h.readUInt32BE(0);
    let v1 = h.readUInt32BE(4);
    let v2 = h.readUInt32BE(8);
    let v3 = h.readUInt32BE(12);
    for (let bit = 8; bit > 0; bit >>>= 1) {
      const t = this.table;
      t[bit * 4] = v0;
      t[bit * 4 + 1] = v1;
      t[bit * 4 + 2] = v2;
      t[bit * 4 + 3] = v3;
      const carry = v3 & 1;
      v3 = (v3 >>> 1) | ((v2 & 1) << 31);
      v2 = (v2 >>> 1) | ((v1 & 1) << 31);
      v1 = (v1 >>> 1) | ((v0 & 1) << 31);
      v0 = (v0 >>> 1) ^ (carry ? 0xe1000000 : 0);
    }
    for (let b = 1; b < 16; b++) {
      const low = b & -b;
      if (low === b) continue;
      for (let w = 0; w < 4; w++) this.table[b * 4 + w] = this.table[low * 4 + w]! ^ this.table[(b ^ low) * 4 + w]!;
    }
  }

  /** AES of each 16-byte block of `blocks`. */
  encryptBlocks(blocks: Buffer): Buffer {
    return this.ecb.update(blocks);
  }
}

/** Writes a packet's 12-byte IV at `at` of `into`, for its index in the stream. */
export type IvOf = (index: number, into: Buffer, at: number) => void;

/**
 * The keystream of one stream's packets (one SSRC under one key), computed for `runLength`
 * consecutive indexes at a time: a packet's span is E(J0) (its tag's mask) and then its payload's
 * counter blocks (SP 800-38D §7.1: J0 = IV || 1, then inc32).
 */
export class Keystreams {
  /** Where the last `get`'s span starts in the buffer it returned. */
  at = 0;
  private readonly key: GcmKey;
  private readonly ivOf: IvOf;
  private run: Buffer | null = null;
  private base = 0;
  /** Blocks per packet in the current run. */
  private blocks = 0;

  constructor(key: GcmKey, ivOf: IvOf) {
    this.key = key;
    this.ivOf = ivOf;
  }

  /** The span of the packet at `index` with `bytes` of payload (`at` says where it starts). */
  get(index: number, bytes: number): Buffer {
    const blocks = 1 + ((bytes + 15) >>> 4);
    const i = index - this.base;
    if (this.run && i >= 0 && i < runLength && blocks <= this.blocks) {
      this.at = i * this.blocks * 16;
      return this.run;
    }
    // A packet from before the run (reordered, or late) gets its own; anything else starts a run.
    if (this.run && i < 0) return this.one(index, bytes);
    this.blocks = Math.max(blocks, this.run ? this.blocks : 0);
    this.run = this.compute(index, runLength, this.blocks);
    this.base = index;
    this.at = 0;
    return this.run;
  }

  /** The span of one packet, outside the run (a packet not yet authenticated, of an SSRC not seen). */
  one(index: number, bytes: number): Buffer {
    this.at = 0;
    return this.compute(index, 1, 1 + ((bytes + 15) >>> 4));
  }

  private compute(index: number, count: number, span: number): Buffer {
    const counters = Buffer.allocUnsafe(count * span * 16);
    for (let p = 0; p < count; p++) {
      const first = p * span * 16;
      this.ivOf(index + p, counters, first);
      for (let b = 0; b < span; b++) {
        const o = first + b * 16;
        if (b) counters.copy(counters, o, first, first + 12);
        const c = b + 1;
        counters[o + 12] = c >>> 24;
        counters[o + 13] = (c >>> 16) & 0xff;
        counters[o + 14] = (c >>> 8) & 0xff;
        counters[o + 15] = c & 0xff;
      }
    }
    return this.key.encryptBlocks(counters);
  }
}

/** GHASH state: four big-endian words. */
type Hash = Uint32Array;

/** Absorbs `data[from, to)` into `y`, the last block padded with zeros (SP 800-38D §6.4). */
function absorb(table: Uint32Array, y: Hash, data: Uint8Array, from: number, to: number): void {
  let y0 = y[0]!;
  let y1 = y[1]!;
  let y2 = y[2]!;
  let y3 = y[3]!;
  for (let o = from; o < to; o += 16) {
    let x0 = 0;
    let x1 = 0;
    let x2 = 0;
    let x3 = 0;
    if (o + 16 <= to) {
      x0 = (data[o]! << 24) | (data[o + 1]! << 16) | (data[o + 2]! << 8) | data[o + 3]!;
      x1 = (data[o + 4]! << 24) | (data[o + 5]! << 16) | (data[o + 6]! << 8) | data[o + 7]!;
      x2 = (data[o + 8]! << 24) | (data[o + 9]! << 16) | (data[o + 10]! << 8) | data[o + 11]!;
      x3 = (data[o + 12]! << 24) | (data[o + 13]! << 16) | (data[o + 14]! << 8) | data[o + 15]!;
    } else {
      for (let i = o; i < to; i++) {
        const v = data[i]! << (24 - 8 * ((i - o) & 3));
        const w = (i - o) >>> 2;
        if (w === 0) x0 |= v;
        else if (w === 1) x1 |= v;
        else if (w === 2) x2 |= v;
        else x3 |= v;
      }
    }
    x0 ^= y0;
    x1 ^= y1;
    x2 ^= y2;
    x3 ^= y3;
    // (Y ^ X) · H, Horner's rule over X's nibbles from the last: Z = Z · x^4 ^ table[nibble].
    let z0 = 0;
    let z1 = 0;
    let z2 = 0;
    let z3 = 0;
    for (let k = 3; k >= 0; k--) {
      const w = k === 3 ? x3 : k === 2 ? x2 : k === 1 ? x1 : x0;
      for (let s = 0; s < 32; s += 4) {
        const r = reduce4[z3 & 0xf]!;
        z3 = (z3 >>> 4) | (z2 << 28);
        z2 = (z2 >>> 4) | (z1 << 28);
        z1 = (z1 >>> 4) | (z0 << 28);
        z0 = (z0 >>> 4) ^ r;
        const t = ((w >>> s) & 0xf) << 2;
        z0 ^= table[t]!;
        z1 ^= table[t + 1]!;
        z2 ^= table[t + 2]!;
        z3 ^= table[t + 3]!;
      }
    }
    y0 = z0;
    y1 = z1;
    y2 = z2;
    y3 = z3;
  }
  y[0] = y0;
  y[1] = y1;
  y[2] = y2;
  y[3] = y3;
}

const hash: Hash = new Uint32Array(4);
const lengths = Buffer.alloc(16);

/** GHASH over `aad` and the ciphertext, with their bit lengths; the result is in `hash`. */
function ghash(key: GcmKey, buf: Uint8Array, aadFrom: number, aadTo: number, ctFrom: number, ctTo: number): Hash {
  hash.fill(0);
  absorb(key.table, hash, buf, aadFrom, aadTo);
  absorb(key.table, hash, buf, ctFrom, ctTo);
  lengths.writeUInt32BE((aadTo - aadFrom) * 8, 4);
  lengths.writeUInt32BE((ctTo - ctFrom) * 8, 12);
  absorb(key.table, hash, lengths, 0, 16);
  return hash;
}

/** XORs `length` bytes of `src` at `from` with the keystream at `ks[at]` into `dst` at `to`. */
function xorInto(dst: Buffer, to: number, src: Buffer, from: number, length: number, ks: Buffer, at: number): void {
  for (let i = 0; i < length; i++) dst[to + i] = src[from + i]! ^ ks[at + i]!;
}

/**
 * Encrypts: the AAD is `out[aadFrom, ctAt)`, the ciphertext of `plain` goes at `ctAt` and the
 * 16-byte tag right after it. `ks` at `ksAt`: the packet's span (`Keystreams.get`).
 */
export function seal(key: GcmKey, ks: Buffer, ksAt: number, plain: Buffer, out: Buffer, aadFrom: number, ctAt: number): void {
  xorInto(out, ctAt, plain, 0, plain.length, ks, ksAt + 16);
  const y = ghash(key, out, aadFrom, ctAt, ctAt, ctAt + plain.length);
  const tagAt = ctAt + plain.length;
  for (let w = 0; w < 4; w++) {
    const v = y[w]!;
    const o = tagAt + w * 4;
    out[o] = (v >>> 24) ^ ks[ksAt + w * 4]!;
    out[o + 1] = ((v >>> 16) & 0xff) ^ ks[ksAt + w * 4 + 1]!;
    out[o + 2] = ((v >>> 8) & 0xff) ^ ks[ksAt + w * 4 + 2]!;
    out[o + 3] = (v & 0xff) ^ ks[ksAt + w * 4 + 3]!;
  }
}

/**
 * Authenticates `buf[0, ctAt)` (AAD) and `buf[ctAt, tagAt)` against the tag at `tagAt`: the
 * plaintext in a new buffer, or null when the tag does not match. `buf` is not written.
 */
export function open(key: GcmKey, ks: Buffer, ksAt: number, buf: Buffer, ctAt: number, tagAt: number): Buffer | null {
  const y = ghash(key, buf, 0, ctAt, ctAt, tagAt);
  // Every byte compared, whatever the first difference.
  let diff = 0;
  for (let w = 0; w < 4; w++) {
    const v = y[w]!;
    const o = tagAt + w * 4;
    diff |= buf[o]! ^ (v >>> 24) ^ ks[ksAt + w * 4]!;
    diff |= buf[o + 1]! ^ ((v >>> 16) & 0xff) ^ ks[ksAt + w * 4 + 1]!;
    diff |= buf[o + 2]! ^ ((v >>> 8) & 0xff) ^ ks[ksAt + w * 4 + 2]!;
    diff |= buf[o + 3]! ^ (v & 0xff) ^ ks[ksAt + w * 4 + 3]!;
  }
  if (diff !== 0) return null;
  const clear = Buffer.allocUnsafe(tagAt - ctAt);
  xorInto(clear, 0, buf, ctAt, clear.length, ks, ksAt + 16);
  return clear;
}
