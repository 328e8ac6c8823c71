/**
 * STUN message encoding and decoding, our own small implementation of RFC 8489 (STUN) with the
 * attributes of RFC 8656 (TURN) and RFC 5780 (NAT behaviour discovery).
 *
 * A message is kept as a list of raw attributes; typed readers decode the ones the doctor needs.
 * Integrity and fingerprint are computed over the encoded bytes, as §14.5 and §14.7 require, so
 * decoding keeps the raw buffer to verify them.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { crc32 } from "node:zlib";

/** RFC 8489 §5: the fixed value in bytes 4..8 of every message. */
export const magicCookie = 0x2112a442;
const cookieBytes = Buffer.from([0x21, 0x12, 0xa4, 0x42]);
const fingerprintXor = 0x5354554e;

/** Methods: RFC 8489 §18.2 (binding) and RFC 8656 §17 (TURN). */
export const methods = {
  binding: 0x001,
  allocate: 0x003,
  refresh: 0x004,
  send: 0x006,
  data: 0x007,
  createPermission: 0x008,
  channelBind: 0x009,
  /** RFC 6062 §6.1: a TCP connection from the relay to a peer. */
  connect: 0x00a,
} as const;
export type Method = (typeof methods)[keyof typeof methods];

export const messageClasses = ["request", "indication", "success", "error"] as const;
export type MessageClass = (typeof messageClasses)[number];

/** Attribute types: RFC 8489 §18.3, RFC 8656 §18, RFC 5780 §7. */
export const attr = {
  mappedAddress: 0x0001,
  changeRequest: 0x0003,
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  unknownAttributes: 0x000a,
  channelNumber: 0x000c,
  lifetime: 0x000d,
  xorPeerAddress: 0x0012,
  data: 0x0013,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedAddressFamily: 0x0017,
  evenPort: 0x0018,
  requestedTransport: 0x0019,
  dontFragment: 0x001a,
  messageIntegritySha256: 0x001c,
  passwordAlgorithm: 0x001d,
  userhash: 0x001e,
  xorMappedAddress: 0x0020,
  /** RFC 6062 §6.2.1. */
  connectionId: 0x002a,
  reservationToken: 0x0022,
  priority: 0x0024,
  useCandidate: 0x0025,
  padding: 0x0026,
  responsePort: 0x0027,
  passwordAlgorithms: 0x8002,
  alternateDomain: 0x8003,
  software: 0x8022,
  alternateServer: 0x8023,
  fingerprint: 0x8028,
  iceControlled: 0x8029,
  iceControlling: 0x802a,
  responseOrigin: 0x802b,
  otherAddress: 0x802c,
} as const;

export interface Attribute {
  type: number;
  value: Buffer;
}

export interface StunMessage {
  method: number;
  cls: MessageClass;
  transactionId: Buffer;
  attributes: Attribute[];
  /** The bytes it was decoded from; present on decoded messages only. */
  raw?: Buffer;
}

export interface TransportAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

/** A malformed message: the bytes are not STUN or break a rule of RFC 8489 §5/§14. */
export class StunParseError extends Error {
  readonly code = "STUN_MALFORMED";
  override name = "StunParseError";
}

export function newTransactionId(): Buffer {
  return randomBytes(12);
}

export function message(method: number, cls: MessageClass, attributes: Attribute[] = [], transactionId = newTransactionId()): StunMessage {
  return { method, cls, transactionId, attributes };
}

// ---- message type (RFC 8489 §5: method bits interleaved with the two class bits) ----------

export function encodeType(method: number, cls: MessageClass): number {
  const c = messageClasses.indexOf(cls);
  return ((method & 0xf80) << 2) | ((method & 0x070) << 1) | (method & 0x00f) | ((c & 2) << 7) | ((c & 1) << 4);
}

export function decodeType(type: number): { method: number; cls: MessageClass } {
  const method = ((type & 0x3e00) >> 2) | ((type & 0x00e0) >> 1) | (type & 0x000f);
  const c = ((type & 0x0100) >> 7) | ((type & 0x0010) >> 4);
  return { method, cls: messageClasses[c]! };
}

// ---- encoding ---------------------------------------------------------------------------

export interface EncodeOptions {
  /** Adds MESSAGE-INTEGRITY (HMAC-SHA1, §14.5) with this key. */
  integrityKey?: Buffer;
  /** Adds FINGERPRINT (CRC-32 XOR 0x5354554e, §14.7) last. */
  fingerprint?: boolean;
  /** Byte used to pad attribute values to 4 bytes. Any value is allowed (§14); RFC 5769 uses 0x20. @default 0 */
  padByte?: number;
}

function attributeBytes(a: Attribute, padByte: number): Buffer {
  const padded = (a.value.length + 3) & ~3;
  const out = Buffer.alloc(4 + padded, padByte);
  out.writeUInt16BE(a.type, 0);
  out.writeUInt16BE(a.value.length, 2);
  a.value.copy(out, 4);
  return out;
}

function header(type: number, length: number, transactionId: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(length, 2);
  cookieBytes.copy(h, 4);
  transactionId.copy(h, 8);
  return h;
}

/** Encodes a message; integrity and fingerprint are appended in the order §14.5/§14.7 require. */
export function encode(msg: StunMessage, opts: EncodeOptions = {}): Buffer {
  if (msg.transactionId.length !== 12) throw new StunParseError("transaction id must be 12 bytes");
  const type = encodeType(msg.method, msg.cls);
  const padByte = opts.padByte ?? 0;
  let body = Buffer.concat(msg.attributes.map((a) => attributeBytes(a, padByte)));
  if (opts.integrityKey) {
    // The length field covers the MESSAGE-INTEGRITY attribute itself but not what follows (§14.5).
    const h = header(type, body.length + 24, msg.transactionId);
    const mac = createHmac("sha1", opts.integrityKey).update(h).update(body).digest();
    body = Buffer.concat([body, attributeBytes({ type: attr.messageIntegrity, value: mac }, 0)]);
  }
  if (opts.fingerprint) {
    const h = header(type, body.length + 8, msg.transactionId);
    const crc = (crc32(Buffer.concat([h, body])) ^ fingerprintXor) >>> 0;
    const v = Buffer.alloc(4);
    v.writeUInt32BE(crc);
    body = Buffer.concat([body, attributeBytes({ type: attr.fingerprint, value: v }, 0)]);
  }
  return Buffer.concat([header(type, body.length, msg.transactionId), body]);
}

// ---- decoding ---------------------------------------------------------------------------

/** Whether the bytes look like a STUN message (§5: top two bits zero, magic cookie, length multiple of 4). */
export function isStun(buf: Buffer): boolean {
  return buf.length >= 20 && (buf[0]! & 0xc0) === 0 && buf.readUInt32BE(4) === magicCookie && (buf.readUInt16BE(2) & 3) === 0;
}

export function decode(buf: Buffer): StunMessage {
  if (buf.length < 20) throw new StunParseError("shorter than a STUN header");
  if ((buf[0]! & 0xc0) !== 0) throw new StunParseError("first two bits are not zero");
  if (buf.readUInt32BE(4) !== magicCookie) throw new StunParseError("magic cookie missing");
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0) throw new StunParseError("length is not a multiple of 4");
  if (buf.length < 20 + length) throw new StunParseError("message truncated");
  const raw = buf.subarray(0, 20 + length);
  const { method, cls } = decodeType(buf.readUInt16BE(0));
  const attributes: Attribute[] = [];
  let off = 20;
  while (off < raw.length) {
    if (off + 4 > raw.length) throw new StunParseError("attribute header truncated");
    const type = raw.readUInt16BE(off);
    const len = raw.readUInt16BE(off + 2);
    if (off + 4 + len > raw.length) throw new StunParseError(`attribute 0x${type.toString(16)} overruns the message`);
    attributes.push({ type, value: raw.subarray(off + 4, off + 4 + len) });
    off += 4 + ((len + 3) & ~3);
  }
  return { method, cls, transactionId: Buffer.from(raw.subarray(8, 20)), attributes, raw };
}

export function getAttr(msg: StunMessage, type: number): Buffer | undefined {
  return msg.attributes.find((a) => a.type === type)?.value;
}

/** Byte offset of the first attribute of `type` in the raw message, or -1. */
function attrOffset(raw: Buffer, type: number): number {
  let off = 20;
  while (off + 4 <= raw.length) {
    if (raw.readUInt16BE(off) === type) return off;
    off += 4 + ((raw.readUInt16BE(off + 2) + 3) & ~3);
  }
  return -1;
}

/** Checks MESSAGE-INTEGRITY (§14.5): false when absent or wrong. */
export function verifyIntegrity(msg: StunMessage, key: Buffer): boolean {
  const raw = msg.raw;
  if (!raw) return false;
  const off = attrOffset(raw, attr.messageIntegrity);
  if (off < 0 || raw.readUInt16BE(off + 2) !== 20) return false;
  const h = Buffer.from(raw.subarray(0, 20));
  h.writeUInt16BE(off + 24 - 20, 2);
  const mac = createHmac("sha1", key).update(h).update(raw.subarray(20, off)).digest();
  return timingSafeEqual(mac, raw.subarray(off + 4, off + 24));
}

/** Checks FINGERPRINT (§14.7): false when absent or wrong. */
export function verifyFingerprint(msg: StunMessage): boolean {
  const raw = msg.raw;
  if (!raw) return false;
  const off = attrOffset(raw, attr.fingerprint);
  if (off < 0 || off + 8 !== raw.length) return false;
  const h = Buffer.from(raw.subarray(0, 20));
  h.writeUInt16BE(off + 8 - 20, 2);
  const crc = (crc32(Buffer.concat([h, raw.subarray(20, off)])) ^ fingerprintXor) >>> 0;
  return crc === raw.readUInt32BE(off + 4);
}

// ---- credentials (§9.2) -----------------------------------------------------------------

/**
 * OpaqueString preparation (RFC 8265 §4.2, which §9.2.2 requires for passwords), reduced to what
 * matters for real passwords: characters "commonly mapped to nothing" (soft hyphen, zero-width)
 * dropped, non-ASCII spaces made ASCII, then NFKC as SASLprep (RFC 4013, used by RFC 5389 and by
 * the RFC 5769 §2.4 vector) does.
 */
export function preparePassword(password: string): string {
  return password
    .replace(/[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/g, "")
    .replace(/[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]/g, " ")
    .normalize("NFKC");
}

/** Long-term credential key (§9.2.2): MD5(username ":" realm ":" password). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash("md5").update(`${username}:${realm}:${preparePassword(password)}`, "utf8").digest();
}

/** Short-term credential key (§9.1.1): the prepared password itself. */
export function shortTermKey(password: string): Buffer {
  return Buffer.from(preparePassword(password), "utf8");
}

// ---- typed attributes -------------------------------------------------------------------

export function stringAttr(type: number, text: string): Attribute {
  return { type, value: Buffer.from(text, "utf8") };
}

export function uint32Attr(type: number, n: number): Attribute {
  const v = Buffer.alloc(4);
  v.writeUInt32BE(n >>> 0);
  return { type, value: v };
}

export function readString(msg: StunMessage, type: number): string | undefined {
  return getAttr(msg, type)?.toString("utf8");
}

export function readUint32(msg: StunMessage, type: number): number | undefined {
  const v = getAttr(msg, type);
  return v && v.length >= 4 ? v.readUInt32BE(0) : undefined;
}

function ipBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split(".").map(Number));
  if (!isIPv6(address)) throw new StunParseError(`not an IP address: ${address}`);
  // Expand `::` and an embedded dotted IPv4 tail (e.g. ::ffff:127.0.0.1).
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = v4[1]!.split(".").map(Number);
    text = text.slice(0, -v4[1]!.length) + `${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function ipText(b: Buffer): string {
  if (b.length === 4) return [...b].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups (RFC 5952 §4.2).
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}

/** MAPPED-ADDRESS style value (§14.1); with `xorWith` the XOR form of §14.2. */
function addressValue(a: TransportAddress, xorWith?: Buffer): Buffer {
  const ip = ipBytes(a.address);
  const v = Buffer.alloc(4 + ip.length);
  v[1] = ip.length === 4 ? 0x01 : 0x02;
  v.writeUInt16BE(xorWith ? a.port ^ (magicCookie >>> 16) : a.port, 2);
  for (let i = 0; i < ip.length; i++) v[4 + i] = xorWith ? ip[i]! ^ xorWith[i]! : ip[i]!;
  return v;
}

function readAddressValue(v: Buffer, xorWith?: Buffer): TransportAddress {
  const fam = v[1];
  const len = fam === 0x01 ? 4 : fam === 0x02 ? 16 : 0;
  if (!len || v.length < 4 + len) throw new StunParseError(`bad address family ${fam}`);
  const port = xorWith ? v.readUInt16BE(2) ^ (magicCookie >>> 16) : v.readUInt16BE(2);
  const ip = Buffer.alloc(len);
  for (let i = 0; i < len; i++) ip[i] = xorWith ? v[4 + i]! ^ xorWith[i]! : v[4 + i]!;
  return { family: len === 4 ? 4 : 6, address: ipText(ip), port };
}

function xorKey(transactionId: Buffer): Buffer {
  return Buffer.concat([cookieBytes, transactionId]);
}

export function addressAttr(type: number, a: TransportAddress): Attribute {
  return { type, value: addressValue(a) };
}

export function xorAddressAttr(type: number, a: TransportAddress, transactionId: Buffer): Attribute {
  return { type, value: addressValue(a, xorKey(transactionId)) };
}

export function readAddress(msg: StunMessage, type: number): TransportAddress | undefined {
  const v = getAttr(msg, type);
  return v ? readAddressValue(v) : undefined;
}

export function readXorAddress(msg: StunMessage, type: number): TransportAddress | undefined {
  const v = getAttr(msg, type);
  return v ? readAddressValue(v, xorKey(msg.transactionId)) : undefined;
}

/** All values of a repeatable address attribute (e.g. XOR-RELAYED-ADDRESS for dual allocations). */
export function readXorAddresses(msg: StunMessage, type: number): TransportAddress[] {
  return msg.attributes.filter((a) => a.type === type).map((a) => readAddressValue(a.value, xorKey(msg.transactionId)));
}

export function errorCodeAttr(code: number, reason: string): Attribute {
  const r = Buffer.from(reason, "utf8");
  const v = Buffer.alloc(4 + r.length);
  v[2] = Math.floor(code / 100);
  v[3] = code % 100;
  r.copy(v, 4);
  return { type: attr.errorCode, value: v };
}

/** ERROR-CODE (§14.8): class × 100 + number, and the reason phrase. */
export function readError(msg: StunMessage): { code: number; reason: string } | undefined {
  const v = getAttr(msg, attr.errorCode);
  if (!v || v.length < 4) return undefined;
  return { code: (v[2]! & 0x07) * 100 + v[3]!, reason: v.subarray(4).toString("utf8") };
}

/** CHANGE-REQUEST (RFC 5780 §7.2). */
export function changeRequestAttr(changeIp: boolean, changePort: boolean): Attribute {
  return uint32Attr(attr.changeRequest, (changeIp ? 4 : 0) | (changePort ? 2 : 0));
}

/** REQUESTED-TRANSPORT (RFC 8656 §18.7): protocol number, 17 for UDP. */
export function requestedTransportAttr(protocol = 17): Attribute {
  return { type: attr.requestedTransport, value: Buffer.from([protocol, 0, 0, 0]) };
}

/** REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.8). */
export function requestedFamilyAttr(family: 4 | 6): Attribute {
  return { type: attr.requestedAddressFamily, value: Buffer.from([family === 4 ? 0x01 : 0x02, 0, 0, 0]) };
}

/** CHANNEL-NUMBER (RFC 8656 §18.1). */
export function channelNumberAttr(channel: number): Attribute {
  const v = Buffer.alloc(4);
  v.writeUInt16BE(channel);
  return { type: attr.channelNumber, value: v };
}

// ---- ChannelData (RFC 8656 §12.4) --------------------------------------------------------

/** Channel numbers are 0x4000..0x4FFF (§12). */
export function isChannelData(buf: Buffer): boolean {
  return buf.length >= 4 && buf[0]! >= 0x40 && buf[0]! <= 0x4f;
}

/** Encodes a ChannelData message; `pad` rounds it to 4 bytes, which stream transports need (§12.5). */
export function encodeChannelData(channel: number, data: Buffer, pad: boolean): Buffer {
  const len = pad ? (data.length + 3) & ~3 : data.length;
  const out = Buffer.alloc(4 + len);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, 4);
  return out;
}

export function decodeChannelData(buf: Buffer): { channel: number; data: Buffer } {
  if (!isChannelData(buf)) throw new StunParseError("not a ChannelData message");
  const len = buf.readUInt16BE(2);
  if (buf.length < 4 + len) throw new StunParseError("ChannelData truncated");
  return { channel: buf.readUInt16BE(0), data: buf.subarray(4, 4 + len) };
}
