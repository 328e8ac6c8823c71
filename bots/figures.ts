/**
 * The report's distributions as mergeable HdrHistograms: each figure is recorded in one, the
 * histograms of any number of threads, processes or machines add up, and the percentiles come
 * from the sum. Percentiles of parts cannot be averaged; histograms can be added exactly.
 *
 * Values are recorded in thousandths (µs for ms) with 3 significant digits: a percentile read
 * back is within 0.1 % of the sample it stands for (HdrHistogram's stated precision).
 */
import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from "hdr-histogram-js";
import { round2, type Dist } from "./metrics.ts";
import type { CallLeg } from "./types.ts";

/** Per leg, every leg: how long each setup stage took. */
const setupFigures = ["joinToMatchMs", "iceMs", "dtlsMs", "setupMs"] as const;
/** Per connected leg: media quality as the receiver measured it. */
const mediaFigures = ["jitterMs", "jitterP95Ms", "oneWayDelayMs", "rttMs", "rtcpRttMs", "payloadKbps"] as const;
export const figureNames = [...setupFigures, ...mediaFigures, "packetDelayMs"] as const;
export type FigureName = (typeof figureNames)[number];

/** Significant decimal digits kept: relative error below 10^-digits. */
export const significantDigits = 3;
/** Values are stored as integers of this fraction of the unit. */
const scale = 1000;

const fresh = (): Histogram => build({ numberOfSignificantValueDigits: significantDigits, useWebAssembly: false });
const record = (h: Histogram, v: number | null | undefined, count = 1) => {
  if (typeof v === "number" && Number.isFinite(v)) h.recordValueWithCount(Math.max(0, Math.round(v * scale)), count);
};

/** Encoded histograms (compressed base64, HdrHistogram's own format): plain JSON for Redis or a thread message. */
export type EncodedFigures = Partial<Record<FigureName, string>>;

export class Figures {
  private readonly h = new Map<FigureName, Histogram>(figureNames.map((n) => [n, fresh()]));

  private get(name: FigureName): Histogram {
    return this.h.get(name)!;
  }

  /** Records one leg as `summarize` counts it: setup stages for every leg, media figures for connected ones. */
  addLeg(leg: CallLeg): this {
    const setup: Record<(typeof setupFigures)[number], number | null> = {
      joinToMatchMs: leg.joinToMatchMs,
      iceMs: leg.iceMs,
      dtlsMs: leg.dtlsMs,
      setupMs: leg.firstMediaMs,
    };
    for (const n of setupFigures) record(this.get(n), setup[n]);
    if (!leg.connected) return this;
    for (const n of mediaFigures) record(this.get(n), leg[n]);
    for (const [ms, count] of leg.delayHistogram ?? []) record(this.get("packetDelayMs"), ms, count);
    return this;
  }

  /** One raw sample: for tests and for figures measured outside a leg. */
  add(name: FigureName, value: number): this {
    record(this.get(name), value);
    return this;
  }

  merge(other: Figures): this {
    for (const n of figureNames) this.get(n).add(other.get(n));
    return this;
  }

  encode(): EncodedFigures {
    const out: EncodedFigures = {};
    for (const n of figureNames) if (this.get(n).totalCount > 0) out[n] = encodeIntoCompressedBase64(this.get(n));
    return out;
  }

  static decode(enc: EncodedFigures): Figures {
    const f = new Figures();
    for (const n of figureNames) {
      const text = enc[n];
      if (text) f.get(n).add(decodeFromCompressedBase64(text, 32, false));
    }
    return f;
  }

  count(name: FigureName): number {
    return this.get(name).totalCount;
  }

  /** Nearest-rank percentile (p in 0..100), in the figure's unit; null without samples. */
  percentile(name: FigureName, p: number): number | null {
    const h = this.get(name);
    if (h.totalCount === 0) return null;
    return h.getValueAtPercentile(Math.min(100, p)) / scale;
  }

  dist(name: FigureName): Dist {
    return { count: this.count(name), p50: round2(this.percentile(name, 50)), p95: round2(this.percentile(name, 95)), max: round2(this.percentile(name, 100)) };
  }
}
