/**
 * What werift 0.25 leaves out of its SRTP receive path, added in front of it: an RFC 3711
 * §3.3.2 replay window per SSRC for SRTP and SRTCP, and counts of the packets it drops —
 * `corrupt` (authentication failed) and `replayed` — so neither shows up as media received,
 * nor as loss.
 */
import { ProtectionProfileAeadAes128Gcm, SrtpAuthenticationError } from "werift";
import type { RTCPeerConnection } from "werift";

/** RFC 3711 §3.3.2: "a replay window size of 64 MUST be supported". */
const replayWindowSize = 64;

/** A sliding window of the highest index accepted and a bitmap of the 64 below it. */
export class ReplayWindow {
  private highest = -1;
  private bits = 0n;

  /** True the first time an authenticated `index` is seen; false for a replay or one too old to tell. */
  accept(index: number): boolean {
    if (index > this.highest) {
      const shift = this.highest < 0 ? replayWindowSize : index - this.highest;
      this.bits = shift >= replayWindowSize ? 1n : ((this.bits << BigInt(shift)) | 1n) & ((1n << BigInt(replayWindowSize)) - 1n);
      this.highest = index;
      return true;
    }
    const back = this.highest - index;
    if (back >= replayWindowSize) return false;
    const mask = 1n << BigInt(back);
    if (this.bits & mask) return false;
    this.bits |= mask;
    return true;
  }
}

export interface IntegrityCounts {
  /** SRTP packets failing authentication (corrupted on the way). */
  corrupt: number;
  /** SRTP packets already received (replayed) or older than the window. */
  replayed: number;
  corruptRtcp: number;
  replayedRtcp: number;
}

type Decrypt = (buf: Buffer) => Buffer;
interface SrtpLike {
  decrypt: Decrypt;
  remoteContext?: { profile?: number; srtpSSRCStates?: Record<number, { rolloverCounter: number }> };
}

/**
 * Wraps the decrypt of each DTLS transport's SRTP and SRTCP session. werift drops a packet whose
 * decrypt throws `SrtpAuthenticationError`, so a replay is dropped the same way. Best effort
 * through werift's internals (`dtlsTransport.srtp/srtcp.decrypt`); returns false when they moved.
 */
export function guardSrtp(pc: RTCPeerConnection, counts: IntegrityCounts): boolean {
  let hooked = false;
  for (const t of pc.dtlsTransports) {
    const srtp = (t as unknown as { srtp?: SrtpLike }).srtp;
    const srtcp = (t as unknown as { srtcp?: SrtpLike }).srtcp;
    if (srtp && typeof srtp.decrypt === "function") {
      const inner = srtp.decrypt;
      const windows = new Map<number, ReplayWindow>();
      srtp.decrypt = (buf) => {
        let out: Buffer;
        try {
          out = inner(buf);
        } catch (err) {
          if (err instanceof SrtpAuthenticationError) counts.corrupt++;
          throw err;
        }
        // Index = ROC · 2^16 + SEQ (RFC 3711 §3.3.1); werift updated the ROC while decrypting.
        const ssrc = buf.readUInt32BE(8);
        const roc = srtp.remoteContext?.srtpSSRCStates?.[ssrc]?.rolloverCounter ?? 0;
        if (!windowOf(windows, ssrc).accept(roc * 65536 + buf.readUInt16BE(2))) {
          counts.replayed++;
          throw new SrtpAuthenticationError("replayed SRTP packet");
        }
        return out;
      };
      hooked = true;
    }
    if (srtcp && typeof srtcp.decrypt === "function") {
      const inner = srtcp.decrypt;
      const windows = new Map<number, ReplayWindow>();
      srtcp.decrypt = (buf) => {
        let out: Buffer;
        try {
          out = inner(buf);
        } catch (err) {
          if (err instanceof SrtpAuthenticationError) counts.corruptRtcp++;
          throw err;
        }
        // E flag + SRTCP index: before the auth tag (RFC 3711 §3.4), last with AEAD (RFC 7714 §9.1).
        const tag = srtcp.remoteContext?.profile === ProtectionProfileAeadAes128Gcm ? 0 : 10;
        const index = buf.readUInt32BE(buf.length - tag - 4) & 0x7fffffff;
        if (!windowOf(windows, buf.readUInt32BE(4)).accept(index)) {
          counts.replayedRtcp++;
          throw new SrtpAuthenticationError("replayed SRTCP packet");
        }
        return out;
      };
    }
  }
  return hooked;
}

function windowOf(map: Map<number, ReplayWindow>, ssrc: number): ReplayWindow {
  let w = map.get(ssrc);
  if (!w) map.set(ssrc, (w = new ReplayWindow()));
  return w;
}
