/**
 * Receive-side measurements of one media stream, computed from the sequence number and send
 * time each packet carries (synthetic payload or RTP header extension), never from the
 * transport's own counters, so an impairment below the bots shows up exactly as a user would
 * feel it. Definitions follow W3C webrtc-stats where it defines the figure (links below).
 */

/** Distribution summary used in every report; `count` is the n of the figure. */
export interface Dist {
  count: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
}

/** Nearest-rank percentile of an ascending array (the common definition). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export const round2 = (x: number | null): number | null => (x === null ? null : Math.round(x * 100) / 100);

export function dist(values: readonly (number | null | undefined)[]): Dist {
  const v = values.filter((x): x is number => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  return { count: v.length, p50: round2(percentile(v, 50)), p95: round2(percentile(v, 95)), max: round2(v.length ? v[v.length - 1]! : null) };
}

/**
 * Freeze threshold of the W3C webrtc-stats `freezeCount`: an inter-frame gap of at least
 * max(3 × the average frame duration, average frame duration + 150 ms), the average over the
 * last 30 rendered frames.
 * https://w3c.github.io/webrtc-stats/#dom-rtcinboundrtpstreamstats-freezecount
 */
export function freezeThresholdMs(frameIntervalMs: number): number {
  return Math.max(3 * frameIntervalMs, frameIntervalMs + 150);
}

/** A gap longer than this is a pause, not a freeze (webrtc-stats `pauseCount`). */
const pauseAfterMs = 5000;
/** Frames averaged for the freeze threshold (webrtc-stats). */
const freezeWindow = 30;

/** Buckets of 0.1 ms below 100 ms: counted in an array (the common case, one per packet). */
const fineBuckets = 1000;

/**
 * One-way delays as a sparse histogram: 0.1 ms steps below 100 ms, 1 ms steps above. Sparse
 * pairs `[ms, count]` cross threads and merge into packet-level percentiles for the whole run.
 * Keys are whole tenths of a ms (integers index an array or a map far faster than fractions).
 */
export class DelayHistogram {
  private readonly fine = new Uint32Array(fineBuckets);
  private readonly coarse = new Map<number, number>();
  count = 0;
  add(ms: number): void {
    const tenths = ms < 100 ? Math.round(Math.max(0, ms) * 10) : Math.round(ms) * 10;
    this.addTenths(tenths, 1);
  }
  private addTenths(tenths: number, n: number): void {
    if (tenths < fineBuckets) this.fine[tenths] = this.fine[tenths]! + n;
    else this.coarse.set(tenths, (this.coarse.get(tenths) ?? 0) + n);
    this.count += n;
  }
  merge(pairs: ReadonlyArray<readonly [number, number]>): void {
    for (const [ms, n] of pairs) this.addTenths(Math.round(ms * 10), n);
  }
  pairs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    this.fine.forEach((n, tenths) => n && out.push([tenths / 10, n]));
    for (const tenths of [...this.coarse.keys()].sort((a, b) => a - b)) out.push([tenths / 10, this.coarse.get(tenths)!]);
    return out;
  }
  /** Nearest-rank percentile over every packet. */
  percentile(p: number): number | null {
    if (!this.count) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let acc = 0;
    for (const [k, n] of this.pairs()) if ((acc += n) >= rank) return k;
    return null;
  }
}

/**
 * A seen-window of the sender's sequence numbers (one bit each): a second copy of a packet
 * is a duplicate, never a second packet received.
 */
class SeenSet {
  private bits = new Uint8Array(1024);
  /** True the first time `seq` is added. */
  add(seq: number): boolean {
    const byte = seq >>> 3;
    if (byte >= this.bits.length) {
      const grown = new Uint8Array(Math.max(byte + 1, this.bits.length * 2));
      grown.set(this.bits);
      this.bits = grown;
    }
    const mask = 1 << (seq & 7);
    if (this.bits[byte]! & mask) return false;
    this.bits[byte]! |= mask;
    return true;
  }
}

export interface StreamSnapshot {
  packetsReceived: number;
  /** Highest sequence number seen + 1: what the receiver alone can tell was sent. */
  packetsExpectedSeen: number;
  /** Second copies of a packet already received: not counted as received. */
  duplicates: number;
  /** Packets that arrived after a later one (a NACK retransmission on vp8): left out of jitter and delay. */
  packetsRecovered: number;
  bytesReceived: number;
  /** RFC 3550 §6.4.1 interarrival jitter from RTP timestamps, sampled once a second: mean and p95, ms. */
  jitterMs: number | null;
  jitterP95Ms: number | null;
  /** Median one-way delay (sender and receiver share a clock on one host). */
  oneWayDelayMs: number | null;
  oneWayDelayMaxMs: number | null;
  /** Sparse histogram `[ms, packets]` of the one-way delay. */
  delayHistogram: Array<[number, number]>;
  /** Complete frames (every packet of the frame arrived). */
  framesReceived: number;
  freezes: number;
  freezeMs: number;
  pauses: number;
  pauseMs: number;
  firstAt: number | null;
  lastAt: number | null;
}

/** One stream's media since the previous `StreamStats.window()`. */
export interface StreamWindow {
  bytes: number;
  delaySumMs: number;
  delayPackets: number;
  freezes: number;
  /** The stream's RFC 3550 jitter now, ms; null for video or before two packets. */
  jitterMs: number | null;
}

/** Counts one stream. Sequence numbers are the sender's own 32-bit counter from 0 (no wrap in a call). */
export class StreamStats {
  private readonly seen = new SeenSet();
  private maxSeq = -1;
  private received = 0;
  private duplicates = 0;
  private recovered = 0;
  private bytes = 0;
  /** RTP clock rate for jitter; 0 leaves jitter out (video). */
  private readonly clockRate: number;
  private jitter = 0;
  private lastTransit: number | null = null;
  private readonly jitterSamples: number[] = [];
  private nextJitterSampleAt = 0;
  private readonly delays = new DelayHistogram();
  private delayMax = -Infinity;
  private delaySumMs = 0;
  /** Totals at the last `window()`. */
  private taken = { bytes: 0, delaySumMs: 0, delayPackets: 0, freezes: 0 };
  private readonly frames: FrameClock;
  private readonly pending = new Map<number, { startSeq: number | null; endSeq: number | null; count: number }>();
  private lastRenderedId = -1;
  firstAt: number | null = null;
  lastAt: number | null = null;

  constructor(opts: { nominalFrameMs?: number; clockRate?: number } = {}) {
    this.frames = new FrameClock(opts.nominalFrameMs ?? 1000 / 30);
    this.clockRate = opts.clockRate ?? 0;
  }

  /**
   * One packet arrived at `recvAt` (ms, `now()`), sent at `sentAt` by the peer's clock.
   * `rtpTs` feeds the RFC 3550 jitter; `frame` places the packet in its video frame, which
   * counts as rendered once all of its packets are in.
   */
  onPacket(seq: number, sentAt: number, recvAt: number, size: number, rtpTs?: number, frame?: { id: number; start: boolean; end: boolean }): void {
    if (!this.seen.add(seq)) {
      this.duplicates++;
      return;
    }
    if (this.firstAt === null) this.firstAt = recvAt;
    this.received++;
    this.bytes += size;
    this.lastAt = recvAt;
    // A packet older than one already received was resent (NACK) or reordered: its send time is
    // the original one, so it says nothing about the path's delay or jitter.
    const inOrder = seq > this.maxSeq;
    if (inOrder) this.maxSeq = seq;
    else this.recovered++;

    if (inOrder) {
      const transit = recvAt - sentAt;
      this.delays.add(transit);
      this.delaySumMs += transit;
      if (transit > this.delayMax) this.delayMax = transit;
      if (this.clockRate && rtpTs !== undefined) this.addJitter(recvAt, rtpTs);
    }
    if (frame) this.addToFrame(seq, recvAt, frame);
  }

  /** RFC 3550 §6.4.1 and A.8, in RTP timestamp units, converted to ms when sampled. */
  private addJitter(recvAt: number, rtpTs: number): void {
    const arrival = (recvAt * this.clockRate) / 1000;
    const transit = arrival - rtpTs;
    if (this.lastTransit !== null) {
      // RTP timestamps wrap at 2^32: the difference is taken modulo it.
      let d = transit - this.lastTransit;
      d = (((d % 2 ** 32) + 2 ** 32 + 2 ** 31) % 2 ** 32) - 2 ** 31;
      this.jitter += (Math.abs(d) - this.jitter) / 16;
    } else this.nextJitterSampleAt = recvAt + 1000;
    this.lastTransit = transit;
    while (recvAt >= this.nextJitterSampleAt) {
      this.jitterSamples.push((this.jitter * 1000) / this.clockRate);
      this.nextJitterSampleAt += 1000;
    }
  }

  private addToFrame(seq: number, recvAt: number, f: { id: number; start: boolean; end: boolean }): void {
    if (f.id <= this.lastRenderedId) return;
    let p = this.pending.get(f.id);
    if (!p) this.pending.set(f.id, (p = { startSeq: null, endSeq: null, count: 0 }));
    p.count++;
    if (f.start) p.startSeq = seq;
    if (f.end) p.endSeq = seq;
    if (p.startSeq === null || p.endSeq === null || p.count !== p.endSeq - p.startSeq + 1) return;
    this.lastRenderedId = f.id;
    for (const id of this.pending.keys()) if (id <= f.id) this.pending.delete(id);
    this.frames.render(recvAt);
  }

  /**
   * What arrived since the last call (the live feed's one-second window): payload bytes, the
   * in-order packets' summed one-way delay, freezes, and the current RFC 3550 jitter (audio).
   */
  window(): StreamWindow {
    const w: StreamWindow = {
      bytes: this.bytes - this.taken.bytes,
      delaySumMs: this.delaySumMs - this.taken.delaySumMs,
      delayPackets: this.delays.count - this.taken.delayPackets,
      freezes: this.frames.freezes - this.taken.freezes,
      jitterMs: this.clockRate && this.lastTransit !== null ? (this.jitter * 1000) / this.clockRate : null,
    };
    this.taken = { bytes: this.bytes, delaySumMs: this.delaySumMs, delayPackets: this.delays.count, freezes: this.frames.freezes };
    return w;
  }

  /** Lost and expected packets as the receiver alone sees them (live figures). */
  counts(): { lost: number; expected: number } {
    const expected = this.maxSeq + 1;
    return { lost: Math.max(0, expected - this.received), expected };
  }

  /** The figures so far; `endAt` (the call's end) closes the last frame gap, which can be a freeze. */
  snapshot(endAt?: number): StreamSnapshot {
    const f = this.frames.summary(endAt);
    const j = [...this.jitterSamples].sort((a, b) => a - b);
    return {
      packetsReceived: this.received,
      packetsExpectedSeen: this.maxSeq + 1,
      duplicates: this.duplicates,
      packetsRecovered: this.recovered,
      bytesReceived: this.bytes,
      jitterMs: j.length ? j.reduce((a, b) => a + b, 0) / j.length : null,
      jitterP95Ms: percentile(j, 95),
      oneWayDelayMs: this.delays.percentile(50),
      oneWayDelayMaxMs: this.delays.count ? this.delayMax : null,
      delayHistogram: this.delays.pairs(),
      framesReceived: f.frames,
      freezes: f.freezes,
      freezeMs: f.freezeMs,
      pauses: f.pauses,
      pauseMs: f.pauseMs,
      firstAt: this.firstAt,
      lastAt: this.lastAt,
    };
  }
}

/**
 * Rendered-frame times → freezes and pauses as webrtc-stats counts them: a gap ≥ the freeze
 * threshold of the last 30 frame durations is a freeze, a gap over 5 s a pause (not a freeze).
 */
class FrameClock {
  private readonly nominalMs: number;
  private readonly durations: number[] = [];
  /** Sum of `durations`, kept as they come and go (summed anew per frame it was 1 % of a bot's CPU). */
  private durationsMs = 0;
  private lastAt: number | null = null;
  frames = 0;
  freezes = 0;
  freezeMs = 0;
  pauses = 0;
  pauseMs = 0;
  constructor(nominalMs: number) {
    this.nominalMs = nominalMs;
  }
  private average(): number {
    return this.durations.length ? this.durationsMs / this.durations.length : this.nominalMs;
  }
  private classify(gap: number): "pause" | "freeze" | "frame" {
    if (gap > pauseAfterMs) return "pause";
    return gap >= freezeThresholdMs(this.average()) ? "freeze" : "frame";
  }
  render(at: number): void {
    this.frames++;
    if (this.lastAt !== null) {
      const gap = at - this.lastAt;
      const kind = this.classify(gap);
      if (kind === "pause") {
        this.pauses++;
        this.pauseMs += gap;
      } else {
        if (kind === "freeze") {
          this.freezes++;
          this.freezeMs += gap;
        }
        this.durations.push(gap);
        this.durationsMs += gap;
        if (this.durations.length > freezeWindow) this.durationsMs -= this.durations.shift()!;
      }
    }
    this.lastAt = at;
  }
  /** Counts with the gap from the last frame to `endAt` (the call's end) included. */
  summary(endAt?: number): { frames: number; freezes: number; freezeMs: number; pauses: number; pauseMs: number } {
    const s = { frames: this.frames, freezes: this.freezes, freezeMs: this.freezeMs, pauses: this.pauses, pauseMs: this.pauseMs };
    if (endAt === undefined || this.lastAt === null || endAt <= this.lastAt) return s;
    const gap = endAt - this.lastAt;
    const kind = this.classify(gap);
    if (kind === "pause") {
      s.pauses++;
      s.pauseMs += gap;
    } else if (kind === "freeze") {
      s.freezes++;
      s.freezeMs += gap;
    }
    return s;
  }
}
