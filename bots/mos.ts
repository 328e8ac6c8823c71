/**
 * A listening-quality estimate for a leg's audio: the ITU-T G.107 E-model with its default
 * values, fed with what the bots measured. An estimate, not a listening test: the bots' audio
 * is not real speech, so the codec is taken as G.711 with packet-loss concealment
 * (G.113 Appendix I: Ie = 0, Bpl = 25.1) and losses as random (BurstR = 1).
 */

export interface MosInputs {
  /** Audio packets lost, percent (Ppl). */
  lossPct: number;
  /** Network one-way delay (median), ms. */
  delayMs: number;
  /** Audio jitter p95 (RFC 3550), ms: sizes the jitter buffer. */
  jitterMs: number;
}

export interface MosEstimate {
  mos: number;
  /** The transmission rating factor R (0–100). */
  r: number;
  inputs: MosInputs;
  /** Mouth-to-ear delay Ta used: network delay + jitter buffer (2 × jitter p95, at least 20 ms) + one 20 ms frame. */
  mouthToEarMs: number;
}

const defaultR0 = 93.2; // Ro − Is with every G.107 default
const ie = 0;
const bpl = 25.1;
const burstR = 1;
const frameMs = 20;

/** G.107 §7.3: Idd, the impairment of a long absolute delay Ta (zero up to 100 ms). */
export function delayImpairment(ta: number): number {
  if (ta <= 100) return 0;
  const x = Math.log2(ta / 100);
  return 25 * ((1 + x ** 6) ** (1 / 6) - 3 * (1 + (x / 3) ** 6) ** (1 / 6) + 2);
}

/** G.107 §7.4: Ie,eff, the equipment impairment with random packet loss. */
function lossImpairment(lossPct: number): number {
  return ie + ((95 - ie) * lossPct) / (lossPct / burstR + bpl);
}

/** G.107 Annex B: R to the MOS (conversational quality estimate). */
function rToMos(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}

export function estimateMos(inputs: MosInputs): MosEstimate {
  const mouthToEarMs = inputs.delayMs + Math.max(20, 2 * inputs.jitterMs) + frameMs;
  const r = Math.max(0, defaultR0 - delayImpairment(mouthToEarMs) - lossImpairment(Math.max(0, inputs.lossPct)));
  const round = (x: number) => Math.round(x * 100) / 100;
  return { mos: round(rToMos(r)), r: round(r), inputs, mouthToEarMs: round(mouthToEarMs) };
}
