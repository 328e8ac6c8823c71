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

/**
 * A sliding window of the highest index accepted and a bitmap of the 64 below it, kept as two
 * 32-bit words (`low`: 0-31 back, `high`: 32-63 back): a BigInt per packet cost more than the
 * rest of the check.
 */
export class ReplayWindow {
  private highest = -1;
  private low = 0;
  private high = 0;

  /** True the first time an authenticated `index` is seen; false for a replay or one too old to tell. */
  accept(index: number): boolean {
    if (index > this.highest) {
      const shift = this.highest < 0 ? replayWindowSize : index - this.highest;
      if (shift >= replayWindowSize) {
        this.high = 0;
        this.low = 1;
      } else if (shift >= 32) {
        this.high = shift === 32 ? this.low : this.low << (shift - 32);
        this.low = 1;
      } else {
        this.high = (this.high << shift) | (this.low >>> (32 - shift));
        this.low = (this.low << shift) | 1;
      }
      this.highest = index;
      return true;
    }
    const back = this.highest - index;
    if (back >= replayWindowSize) return false;
    if (back < 32) {
      const mask = 1 << back;
      if (this.low & mask) return false;
      this.low |= mask;
    } else {
      const mask = 1 << (back - 32);
      if (this.high & mask) return false;
      this.high |= mask;
    }
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
