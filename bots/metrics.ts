/**
 * Receive-side measurements of one media stream, computed from the sequence number and send
 * time each packet carries (synthetic payload or RTP header extension), never from the
 * transport's own counters, so an impairment below the bots shows up exactly as a user would
 * feel it.
 */

/** Distribution summary used in every report. */
export interface Dist {
  count: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** Nearest-rank percentile of an ascending array (RFC-free, the common definition). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function dist(values: readonly (number | null | undefined)[]): Dist {
  const v = values.filter((x): x is number => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  const round = (x: number | null) => (x === null ? null : Math.round(x * 100) / 100);
  return { count: v.length, p50: round(percentile(v, 50)), p95: round(percentile(v, 95)), max: round(v.length ? v[v.length - 1]! : null) };
}

/**
 * Freeze threshold of the W3C webrtc-stats `freezeCount`: an inter-frame gap longer than
 * max(3 × the average frame duration, average frame duration + 150 ms).
 * https://w3c.github.io/webrtc-stats/#dom-rtcinboundrtpstreamstats-freezecount
 */
export function freezeThresholdMs(frameIntervalMs: number): number {
  return Math.max(3 * frameIntervalMs, frameIntervalMs + 150);
}

export interface StreamSnapshot {
  packetsReceived: number;
  packetsExpected: number;
  packetsLost: number;
  bytesReceived: number;
  /** RFC 3550 §6.4.1 interarrival jitter, in ms. */
  jitterMs: number;
  /** Median one-way delay (sender and receiver share a clock on one host). */
  oneWayDelayMs: number | null;
  oneWayDelayMeanMs: number | null;
  oneWayDelayMaxMs: number | null;
  framesReceived: number;
  freezes: number;
  freezeMs: number;
  firstAt: number | null;
  lastAt: number | null;
}

/** Counts one stream. Sequence numbers are the sender's own 32-bit counter (no wrap in a call). */
export class StreamStats {
  private firstSeq = -1;
  private maxSeq = -1;
  private received = 0;
  private bytes = 0;
  private jitter = 0;
  private lastTransit: number | null = null;
  private delaySum = 0;
  /** 1 ms buckets up to 2 s: the median stays cheap and robust to a few late packets. */
  private readonly delayHist = new Uint32Array(2001);
  private delayMax = -Infinity;
  private frames = 0;
  private lastFrameId = -1;
  private lastFrameAt: number | null = null;
  private frameIntervalSum = 0;
  private freezeCount = 0;
  private freezeTotal = 0;
  firstAt: number | null = null;
  lastAt: number | null = null;
  /** A nominal frame interval until enough frames arrived to average. */
  private readonly nominalFrameMs: number;

  constructor(nominalFrameMs = 1000 / 30) {
    this.nominalFrameMs = nominalFrameMs;
  }

  /**
   * One packet arrived at `recvAt` (ms, `now()`), sent at `sentAt` by the peer's clock.
   * `frameEnd` marks the last packet of a video frame: the frame then counts as rendered.
   */
  onPacket(seq: number, sentAt: number, recvAt: number, size: number, frame?: { id: number; end: boolean }): void {
    if (this.firstSeq < 0) {
      this.firstSeq = seq;
      this.firstAt = recvAt;
    }
    // Duplicates (a retransmission that raced its original) are not new packets.
    if (seq > this.maxSeq) this.maxSeq = seq;
    this.received++;
    this.bytes += size;
    this.lastAt = recvAt;

    const transit = recvAt - sentAt;
    this.delaySum += transit;
    if (transit > this.delayMax) this.delayMax = transit;
    this.delayHist[Math.min(2000, Math.max(0, Math.floor(transit)))]!++;
    if (this.lastTransit !== null) {
      const d = Math.abs(transit - this.lastTransit);
      this.jitter += (d - this.jitter) / 16;
    }
    this.lastTransit = transit;

    if (frame && frame.end && frame.id > this.lastFrameId) {
      if (this.lastFrameAt !== null) {
        const gap = recvAt - this.lastFrameAt;
        const avg = this.frames > 1 ? this.frameIntervalSum / (this.frames - 1) : this.nominalFrameMs;
        if (gap > freezeThresholdMs(avg)) {
          this.freezeCount++;
          this.freezeTotal += gap;
        }
        this.frameIntervalSum += gap;
      }
      this.frames++;
      this.lastFrameId = frame.id;
      this.lastFrameAt = recvAt;
    }
  }

  private delayMedian(): number {
    const half = this.received / 2;
    let acc = 0;
    for (let i = 0; i < this.delayHist.length; i++) {
      acc += this.delayHist[i]!;
      if (acc >= half) return i + 0.5;
    }
    return 2000;
  }

  counts(): { lost: number; expected: number } {
    const expected = this.firstSeq < 0 ? 0 : this.maxSeq - this.firstSeq + 1;
    return { lost: Math.max(0, expected - this.received), expected };
  }

  snapshot(): StreamSnapshot {
    const expected = this.firstSeq < 0 ? 0 : this.maxSeq - this.firstSeq + 1;
    const lost = Math.max(0, expected - this.received);
    return {
      packetsReceived: this.received,
      packetsExpected: expected,
      packetsLost: lost,
      bytesReceived: this.bytes,
      jitterMs: this.jitter,
      oneWayDelayMs: this.received ? this.delayMedian() : null,
      oneWayDelayMeanMs: this.received ? this.delaySum / this.received : null,
      oneWayDelayMaxMs: this.received ? this.delayMax : null,
      framesReceived: this.frames,
      freezes: this.freezeCount,
      freezeMs: this.freezeTotal,
      firstAt: this.firstAt,
      lastAt: this.lastAt,
    };
  }
}
