/**
 * Our patches to werift (patches/, applied by `npm ci` through patch-package; see
 * docs/werift-patches.md). Each test fails when its patch no longer applies or no longer takes
 * effect, in both of werift's builds: the ES module bundle (`import`) and CommonJS (`require`).
 */
import { createHook } from "node:async_hooks";
import * as crypto from "node:crypto";
import { KeyObject, randomBytes } from "node:crypto";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { describe, expect, it } from "vitest";
import * as esm from "werift";

const cjs = createRequire(import.meta.url)("werift") as typeof esm;
const builds = [
  ["ESM", esm],
  ["CommonJS", cjs],
] as const;

/** Promises created while `fn` runs synchronously. */
function promisesCreatedBy(fn: () => void): number {
  let n = 0;
  const hook = createHook({ init: (_id, type) => void (type === "PROMISE" && n++) });
  hook.enable();
  try {
    fn();
  } finally {
    hook.disable();
  }
  return n;
}

/** werift 0.25.2's getBit, through strings: the reference the patched one must equal. */
function stringGetBit(bits: number, startIndex: number, length = 1): number {
  let bin = bits.toString(2).split("");
  bin = [...Array(8 - bin.length).fill("0"), ...bin];
  return Number.parseInt(bin.slice(startIndex, startIndex + length).join(""), 2);
}

describe.each(builds)("werift patches (%s build)", (_name, werift) => {
  it("001 event-sync-dispatch: an event without queuing subscribers dispatches without a promise", async () => {
    const event = new werift.Event<[number]>();
    const seen: number[] = [];
    event.subscribe((n) => void seen.push(n));
    expect(promisesCreatedBy(() => event.execute(1))).toBe(0);
    expect(seen).toEqual([1]);
    // Queuing subscribers are still awaited one after the other.
    const queued: number[] = [];
    event.queuingSubscribe(async (n) => {
      await new Promise((r) => setTimeout(r, 5));
      queued.push(n);
    });
    event.execute(2);
    event.execute(3);
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual([1, 2, 3]);
    expect(queued.sort()).toEqual([2, 3]);
  });

  it("002 srtp-key-objects: SRTP ciphers hold their session keys as KeyObjects, and still protect", () => {
    for (const profile of [werift.ProtectionProfileAeadAes128Gcm, werift.ProtectionProfileAes128CmHmacSha1_80]) {
      const salt = profile === werift.ProtectionProfileAeadAes128Gcm ? 12 : 14;
      const [k1, s1, k2, s2] = [randomBytes(16), randomBytes(salt), randomBytes(16), randomBytes(salt)];
      const a = new werift.SrtpSession({ keys: { localMasterKey: k1, localMasterSalt: s1, remoteMasterKey: k2, remoteMasterSalt: s2 }, profile });
      const b = new werift.SrtpSession({ keys: { localMasterKey: k2, localMasterSalt: s2, remoteMasterKey: k1, remoteMasterSalt: s1 }, profile });
      const cipher = a.localContext.cipher as unknown as Record<string, unknown>;
      expect(cipher.srtpSessionKey).toBeInstanceOf(KeyObject);
      expect(cipher.srtcpSessionKey).toBeInstanceOf(KeyObject);
      if (profile === werift.ProtectionProfileAes128CmHmacSha1_80) expect(cipher.srtpSessionAuthTag).toBeInstanceOf(KeyObject);
      const payload = randomBytes(300);
      const packet = a.encrypt(payload, new werift.RtpHeader({ sequenceNumber: 1, timestamp: 2, ssrc: 3, payloadType: 96 }));
      const clear = b.decrypt(packet);
      expect(clear.subarray(clear.length - payload.length)).toEqual(payload);
      // RTCP too: a sender report through SRTCP.
      const keysA = { localMasterKey: k1, localMasterSalt: s1, remoteMasterKey: k2, remoteMasterSalt: s2 };
      const keysB = { localMasterKey: k2, localMasterSalt: s2, remoteMasterKey: k1, remoteMasterSalt: s1 };
      const report = Buffer.from("80c8000600000003" + "00".repeat(20), "hex");
      expect(new werift.SrtcpSession({ keys: keysB, profile }).decrypt(new werift.SrtcpSession({ keys: keysA, profile }).encrypt(report))).toEqual(report);
    }
  });

  it("003 getbit-arithmetic: getBit equals the string version on every byte and window, without strings", () => {
    for (let bits = 0; bits < 256; bits++) {
      for (let start = 0; start < 9; start++) {
        for (let length = 1; length < 9; length++) {
          expect(werift.getBit(bits, start, length)).toStrictEqual(stringGetBit(bits, start, length));
        }
      }
    }
    const toString = Number.prototype.toString;
    let calls = 0;
    Number.prototype.toString = function (this: number, ...args: [number?]) {
      calls++;
      return toString.apply(this, args);
    };
    try {
      werift.RtpHeader.deSerialize(Buffer.from("80e00001000000020000000300000004", "hex"));
    } finally {
      Number.prototype.toString = toString;
    }
    expect(calls).toBe(0);
  });

  it("004 dtls-key-objects: the DTLS record cipher holds its write keys as KeyObjects, and data still flows", async () => {
    // Two peers in this process on loopback host candidates, with a data channel (DTLS records).
    const a = new werift.RTCPeerConnection({ iceServers: [] });
    const b = new werift.RTCPeerConnection({ iceServers: [] });
    try {
      a.onIceCandidate.subscribe((c) => c && void b.addIceCandidate(c));
      b.onIceCandidate.subscribe((c) => c && void a.addIceCandidate(c));
      const received = new Promise<string>((resolve) => b.onDataChannel.subscribe((dc) => dc.onMessage.subscribe((m) => resolve(m.toString()))));
      const dc = a.createDataChannel("x");
      await a.setLocalDescription(await a.createOffer());
      await b.setRemoteDescription(a.localDescription!);
      await b.setLocalDescription(await b.createAnswer());
      await a.setRemoteDescription(b.localDescription!);
      await new Promise<void>((resolve) => (dc.readyState === "open" ? resolve() : dc.stateChanged.subscribe((s) => s === "open" && resolve())));
      dc.send("over DTLS");
      expect(await received).toBe("over DTLS");
      for (const pc of [a, b]) {
        const record = (pc.dtlsTransports[0] as unknown as { dtls: { cipher: { cipher: Record<string, unknown> } } }).dtls.cipher.cipher;
        expect(record.clientWriteKey).toBeInstanceOf(KeyObject);
        expect(record.serverWriteKey).toBeInstanceOf(KeyObject);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 20_000);

  it("005 stun-hmac-key-objects: STUN MESSAGE-INTEGRITY keys are KeyObjects made once per key, and the HMAC is RFC 5389's", () => {
    // Every key werift hands to createHmac, through the builtin module both builds import from.
    const keys: unknown[] = [];
    const cryptoModule = createRequire(import.meta.url)("node:crypto") as { createHmac: typeof crypto.createHmac };
    const original = cryptoModule.createHmac;
    cryptoModule.createHmac = (algorithm: string, key: crypto.BinaryLike | KeyObject) => {
      keys.push(key);
      return original(algorithm, key);
    };
    syncBuiltinESMExports();
    const password = "consent-check-password";
    const messages: InstanceType<typeof werift.Message>[] = [];
    try {
      for (let i = 0; i < 3; i++) messages.push(new werift.Message(werift.methods.BINDING, werift.classes.REQUEST).addMessageIntegrity(Buffer.from(password)));
      // The receiving side verifies with the same key, and refuses a wrong one.
      expect(werift.parseMessage(messages[0]!.bytes, Buffer.from(password))).toBeDefined();
      expect(werift.parseMessage(messages[0]!.bytes, Buffer.from("another-password"))).toBeUndefined();
    } finally {
      cryptoModule.createHmac = original;
      syncBuiltinESMExports();
    }
    expect(keys.length).toBeGreaterThanOrEqual(4);
    for (const key of keys) expect(key).toBeInstanceOf(KeyObject);
    // One KeyObject for the same key bytes, whichever Buffer carries them.
    expect(keys[1]).toBe(keys[0]);
    expect(keys[2]).toBe(keys[0]);
    // MESSAGE-INTEGRITY (the last attribute here): HMAC-SHA1 over the message before it (RFC 5389 §15.4).
    for (const m of messages) {
      const bytes = m.bytes;
      const expected = crypto
        .createHmac("sha1", password)
        .update(bytes.subarray(0, bytes.length - 24))
        .digest();
      expect(bytes.subarray(bytes.length - 20).equals(expected)).toBe(true);
    }
  });

  it("006 dtls-srtp-on-connect: SRTP is keyed in the dispatch that completes the DTLS handshake, on both ends", async () => {
    type Transport = {
      srtpStarted: boolean;
      dtls?: { onConnect: { subscribe(f: () => void): void } };
      onStateChange: { subscribe(f: (s: string) => void): void };
    };
    const a = new werift.RTCPeerConnection({ iceServers: [] });
    const b = new werift.RTCPeerConnection({ iceServers: [] });
    try {
      a.onIceCandidate.subscribe((c) => c && void b.addIceCandidate(c));
      b.onIceCandidate.subscribe((c) => c && void a.addIceCandidate(c));
      a.addTransceiver("audio", { direction: "sendrecv" });
      await a.setLocalDescription(await a.createOffer());
      await b.setRemoteDescription(a.localDescription!);
      await b.setLocalDescription(await b.createAnswer());
      // What each end's SRTP state is when its handshake completes: a handler on the DTLS
      // connect event, subscribed once the transport made its DTLS endpoint, runs after werift's.
      const atConnect = [a, b].map(
        (pc) =>
          new Promise<boolean>((resolve) => {
            const t = pc.dtlsTransports[0] as unknown as Transport;
            t.onStateChange.subscribe((s) => s === "connecting" && queueMicrotask(() => t.dtls!.onConnect.subscribe(() => resolve(t.srtpStarted))));
          }),
      );
      await a.setRemoteDescription(b.localDescription!);
      // Media in the same read as the peer's last flight (TURN over TCP) finds SRTP ready.
      expect(await Promise.all(atConnect)).toEqual([true, true]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 20_000);
});
