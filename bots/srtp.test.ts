/**
 * The bots' SRTP (AES-GCM, RFC 7714) against werift's own implementation, both ways: what one
 * protects the other must open, across a sequence-number wrap, and a changed byte must not open.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ProtectionProfileAeadAes128Gcm, RtpHeader, SrtpSession } from "werift";
import { GcmReceiver, GcmSender } from "./srtp.ts";

/** Two werift sessions keyed as the two ends of one DTLS association. */
function weriftPair() {
  const [k1, s1, k2, s2] = [randomBytes(16), randomBytes(12), randomBytes(16), randomBytes(12)];
  const profile = ProtectionProfileAeadAes128Gcm;
  const a = new SrtpSession({ keys: { localMasterKey: k1, localMasterSalt: s1, remoteMasterKey: k2, remoteMasterSalt: s2 }, profile });
  const b = new SrtpSession({ keys: { localMasterKey: k2, localMasterSalt: s2, remoteMasterKey: k1, remoteMasterSalt: s1 }, profile });
  // The bots' path takes the session keys werift derived, as `rtp-path.ts` does.
  const keys = (ctx: typeof a.localContext) => ({ key: ctx.srtpSessionKey, salt: ctx.srtpSessionSalt });
  return { a, b, sender: new GcmSender(keys(a.localContext)), receiver: new GcmReceiver(keys(b.remoteContext)) };
}

const ssrc = 0x1234abcd;

describe("the bots' AES-GCM SRTP", () => {
  it("is opened by werift, across a sequence-number wrap", () => {
    const { b, sender } = weriftPair();
    for (let i = 0; i < 6; i++) {
      const seq = (65533 + i) & 0xffff; // 65533, 65534, 65535, 0, 1, 2: the ROC goes to 1
      const payload = randomBytes(100 + i);
      const packet = sender.protect({ payloadType: 96, sequenceNumber: seq, timestamp: 1000 + i, marker: i === 5, ssrc, payload });
      const clear = b.decrypt(packet);
      const header = RtpHeader.deSerialize(clear);
      expect(header.sequenceNumber).toBe(seq);
      expect(header.ssrc).toBe(ssrc);
      expect(header.marker).toBe(i === 5);
      expect(clear.subarray(header.payloadOffset)).toEqual(payload);
    }
  });

  it("leaves headroom for the caller's framing without changing the packet", () => {
    const { b, sender } = weriftPair();
    const payload = randomBytes(1200);
    const framed = sender.protect({ payloadType: 96, sequenceNumber: 7, timestamp: 90, marker: true, ssrc, payload }, 4);
    // TURN ChannelData's 4-byte header goes in front: the SRTP packet starts after it.
    const packet = framed.subarray(4);
    expect(packet.length).toBe(12 + 1200 + 16);
    const clear = b.decrypt(packet);
    expect(RtpHeader.deSerialize(clear).sequenceNumber).toBe(7);
    expect(clear.subarray(12)).toEqual(payload);
  });

  it("opens what werift protects, short and long, across a wrap, and late", () => {
    for (const size of [80, 1200]) {
      const { a, receiver } = weriftPair();
      // 65500 to 65535, then 0 to 39 (the ROC goes to 1), with packet 65510 arriving last.
      const seqs = [...Array(76).keys()].map((i) => (65500 + i) & 0xffff).filter((s) => s !== 65510);
      for (const seq of [...seqs, 65510]) {
        const payload = randomBytes(size);
        const packet = a.encrypt(payload, new RtpHeader({ payloadType: 111, sequenceNumber: seq, timestamp: 7 * seq, ssrc, marker: false }));
        const rtp = receiver.unprotect(packet);
        if (typeof rtp === "string") throw new Error(`${size} bytes, seq ${seq}: dropped (${rtp})`);
        expect(rtp).toMatchObject({ payloadType: 111, sequenceNumber: seq, timestamp: 7 * seq, ssrc, marker: false, index: (seq < 65500 ? 0x10000 : 0) + seq });
        expect(rtp.payload).toEqual(payload);
      }
    }
  });

  it("refuses a changed byte, short or long", () => {
    const { a, receiver } = weriftPair();
    for (const size of [50, 1200]) {
      const packet = a.encrypt(randomBytes(size), new RtpHeader({ payloadType: 111, sequenceNumber: 3, timestamp: 0, ssrc }));
      for (const at of [1, 20, packet.length - 1]) {
        const bad = Buffer.from(packet);
        bad[at]! ^= 0x01;
        expect(receiver.unprotect(bad)).toBe("auth");
      }
      expect(typeof receiver.unprotect(packet)).toBe("object");
    }
    const packet = a.encrypt(randomBytes(50), new RtpHeader({ payloadType: 111, sequenceNumber: 4, timestamp: 0, ssrc }));
    expect(receiver.unprotect(packet.subarray(0, 20))).toBe("short");
  });
});
