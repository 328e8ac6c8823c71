/**
 * A deliberately tiny TURN client for the stacks tests: UDP only, Allocate with the long-term
 * credential mechanism, CreatePermission, Refresh. Enough to ask a real coturn whether it would
 * relay to a given peer. (The full client lives in `doctor/`.)
 *
 * RFC 8489 (STUN) §5-§9, §14; RFC 8656 (TURN) §7 Allocate, §9 CreatePermission, §8 Refresh.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import dgram from "node:dgram";

const magicCookie = 0x2112a442;
export const methods = { allocate: 0x003, refresh: 0x004, createPermission: 0x008 } as const;
const attr = {
  username: 0x0006,
  messageIntegrity: 0x0008,
  errorCode: 0x0009,
  lifetime: 0x000d,
  xorPeerAddress: 0x0012,
  realm: 0x0014,
  nonce: 0x0015,
  xorRelayedAddress: 0x0016,
  requestedTransport: 0x0019,
} as const;

export interface StunResponse {
  /** "success" or "error" class (RFC 8489 §5). */
  ok: boolean;
  errorCode?: number;
  reason?: string;
  attrs: Map<number, Buffer>;
}

function encodeAttrs(list: [number, Buffer][]): Buffer {
  return Buffer.concat(list.map(([type, value]) => {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(type, 0);
    head.writeUInt16BE(value.length, 2);
    const pad = Buffer.alloc((4 - (value.length % 4)) % 4);
    return Buffer.concat([head, value, pad]);
  }));
}

/** Builds a request; with `key`, appends MESSAGE-INTEGRITY (RFC 8489 §14.5). */
export function buildRequest(method: number, txid: Buffer, attrs: [number, Buffer][], key?: Buffer): Buffer {
  let body = encodeAttrs(attrs);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(method & 0x3eef, 0); // request class: C0=C1=0
  header.writeUInt32BE(magicCookie, 4);
  txid.copy(header, 8);
  if (key) {
    // The length covers the integrity attribute (24 bytes) while the HMAC covers what precedes it.
    header.writeUInt16BE(body.length + 24, 2);
    const mac = createHmac("sha1", key).update(Buffer.concat([header, body])).digest();
    body = Buffer.concat([body, encodeAttrs([[attr.messageIntegrity, mac]])]);
  }
  header.writeUInt16BE(body.length, 2);
  return Buffer.concat([header, body]);
}

export function parseResponse(msg: Buffer): StunResponse & { txid: Buffer } {
  const type = msg.readUInt16BE(0);
  const length = msg.readUInt16BE(2);
  const attrs = new Map<number, Buffer>();
  let off = 20;
  while (off + 4 <= 20 + length && off + 4 <= msg.length) {
    const t = msg.readUInt16BE(off);
    const l = msg.readUInt16BE(off + 2);
    attrs.set(t, msg.subarray(off + 4, off + 4 + l));
    off += 4 + l + ((4 - (l % 4)) % 4);
  }
  const cls = ((type >> 7) & 0x2) | ((type >> 4) & 0x1);
  const res: StunResponse & { txid: Buffer } = { ok: cls === 2, attrs, txid: msg.subarray(8, 20) };
  const err = attrs.get(attr.errorCode);
  if (err && err.length >= 4) {
    res.errorCode = (err[2]! & 0x7) * 100 + err[3]!;
    res.reason = err.subarray(4).toString("utf8");
  }
  return res;
}

/** XOR-PEER-ADDRESS for an IPv4 peer (RFC 8489 §14.2). */
export function xorPeerAddress(ip: string, port: number): Buffer {
  const b = Buffer.alloc(8);
  b[1] = 0x01;
  b.writeUInt16BE(port ^ (magicCookie >>> 16), 2);
  const n = ip.split(".").reduce((acc, p) => ((acc << 8) | Number(p)) >>> 0, 0);
  b.writeUInt32BE((n ^ magicCookie) >>> 0, 4);
  return b;
}

export interface TurnSession {
  /** The relayed transport address coturn allocated, `ip:port`. */
  relayed: string;
  createPermission(peerIp: string): Promise<StunResponse>;
  close(): Promise<void>;
}

/**
 * Allocates a UDP relay on `host:port` with TURN REST credentials, answering the 401 challenge.
 * Every request times out after `timeoutMs` (bounded, loopback only).
 */
export async function allocate(host: string, port: number, username: string, password: string, timeoutMs = 2000): Promise<TurnSession> {
  const sock = dgram.createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  const waiting = new Map<string, (r: StunResponse) => void>();
  sock.on("message", (msg) => {
    if (msg.length < 20) return;
    const res = parseResponse(msg);
    waiting.get(res.txid.toString("hex"))?.(res);
  });
  const send = (method: number, attrs: [number, Buffer][], key?: Buffer) =>
    new Promise<StunResponse>((resolve, reject) => {
      const txid = randomBytes(12);
      const id = txid.toString("hex");
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, (r) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(r);
      });
      sock.send(buildRequest(method, txid, attrs, key), port, host);
    });
  const udp = Buffer.from([17, 0, 0, 0]);
  try {
    const challenge = await send(methods.allocate, [[attr.requestedTransport, udp]]);
    if (challenge.errorCode !== 401) throw new Error(`expected a 401 challenge, got ${challenge.ok ? "success" : challenge.errorCode}`);
    const realm = challenge.attrs.get(attr.realm)!;
    const nonce = challenge.attrs.get(attr.nonce)!;
    // Long-term credential key: MD5(username ":" realm ":" password) (RFC 8489 §9.2.2).
    const key = createHash("md5").update(`${username}:${realm.toString("utf8")}:${password}`).digest();
    const auth: [number, Buffer][] = [[attr.username, Buffer.from(username)], [attr.realm, realm], [attr.nonce, nonce]];
    const res = await send(methods.allocate, [[attr.requestedTransport, udp], ...auth], key);
    if (!res.ok) throw new Error(`Allocate refused: ${res.errorCode} ${res.reason ?? ""}`);
    const x = res.attrs.get(attr.xorRelayedAddress)!;
    const relayedPort = x.readUInt16BE(2) ^ (magicCookie >>> 16);
    const n = (x.readUInt32BE(4) ^ magicCookie) >>> 0;
    const relayed = `${[24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".")}:${relayedPort}`;
    return {
      relayed,
      createPermission: (peerIp) => send(methods.createPermission, [[attr.xorPeerAddress, xorPeerAddress(peerIp, 0)], ...auth], key),
      async close() {
        // Lifetime 0 frees the relay port now instead of after its lifetime (RFC 8656 §7.2).
        await send(methods.refresh, [[attr.lifetime, Buffer.from([0, 0, 0, 0])], ...auth], key).catch(() => undefined);
        sock.close();
      },
    };
  } catch (err) {
    sock.close();
    throw err;
  }
}
