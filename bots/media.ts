/**
 * What a bot sends and how the receiver reads it back.
 *
 * `synthetic`: each RTP payload starts with a small measuring header (run id, stream seq, send
 * time, frame id, frame start/end) and is padded to the target bitrate; audio 50 packets/s, video 30
 * frames/s. `vp8`: a real VP8 clip (see `vp8.ts`) with the same measuring fields riding in an
 * RTP header extension, so a browser partner decodes real video.
 */
import { RtpHeader, RtpPacket, type MediaStreamTrack } from "werift";
import { now } from "./clock.ts";
import { StreamStats } from "./metrics.ts";
import type { RtpPath } from "./rtp-path.ts";

import type { MediaKind } from "./types.ts";

export type { MediaKind } from "./types.ts";

/** URI of our measuring header extension (seq uint32 + send time float64 + run id uint32, 16 bytes). */
export const measureExtUri = "urn:vchat:bots:seq-send-time";
/** One-byte header extension id (RFC 8285 §4.2: 1–14). */
export const measureExtId = 14;

export const audioIntervalMs = 20;
export const videoFps = 30;
export const videoIntervalMs = 1000 / videoFps;
// One packet per video frame at ~300 kbps, as browsers packetize (about 1200 bytes of payload).
const maxPayload = 1200;
const magic = 0x5643; // "VC"
export const syntheticHeaderBytes = 24;

export interface SyntheticFields {
  kind: "audio" | "video";
  /** The run's id: a packet of another run (or process) is not ours to measure. */
  runId: number;
  seq: number;
  sentAt: number;
  frameId: number;
  frameStart: boolean;
  frameEnd: boolean;
}

/** Offsets of the send time, rewritten right before the packet is written (`stampSendTime`). */
const sentAtOffset = 8;
const extSentAtOffset = 4;

/** Writes the measuring header into `buf` (at least `syntheticHeaderBytes` long). */
export function writeSynthetic(buf: Buffer, f: SyntheticFields): Buffer {
  buf.writeUInt16BE(magic, 0);
  buf.writeUInt8(f.kind === "audio" ? 1 : 2, 2);
  buf.writeUInt8((f.frameEnd ? 1 : 0) | (f.frameStart ? 2 : 0), 3);
  buf.writeUInt32BE(f.seq >>> 0, 4);
  buf.writeDoubleBE(f.sentAt, sentAtOffset);
  buf.writeUInt32BE(f.frameId >>> 0, 16);
  buf.writeUInt32BE(f.runId >>> 0, 20);
  return buf;
}

/** Reads the measuring header, or null when the payload is not ours (e.g. a browser's media). */
export function readSynthetic(buf: Buffer): SyntheticFields | null {
  if (buf.length < syntheticHeaderBytes || buf.readUInt16BE(0) !== magic) return null;
  const k = buf.readUInt8(2);
  if (k !== 1 && k !== 2) return null;
  return {
    kind: k === 1 ? "audio" : "video",
    runId: buf.readUInt32BE(20),
    frameStart: (buf.readUInt8(3) & 2) === 2,
    frameEnd: (buf.readUInt8(3) & 1) === 1,
    seq: buf.readUInt32BE(4),
    sentAt: buf.readDoubleBE(8),
    frameId: buf.readUInt32BE(16),
  };
}

export function writeMeasureExt(seq: number, sentAt: number, runId: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  b.writeUInt32BE(seq >>> 0, 0);
  b.writeDoubleBE(sentAt, extSentAtOffset);
  b.writeUInt32BE(runId >>> 0, 12);
  return b;
}

/** What the receiver reads of an RTP packet: werift's `RtpPacket`, or the bots' own path's. */
export interface ReceivedRtp {
  header: Pick<RtpHeader, "timestamp" | "marker" | "extensions">;
  payload: Buffer;
}
const noExtensions: ReceivedRtp["header"]["extensions"] = [];

export function readMeasureExt(extensions: ReceivedRtp["header"]["extensions"]): { seq: number; sentAt: number; runId: number } | null {
  const ext = extensions.find((e) => e.id === measureExtId);
  if (!ext || ext.payload.length < 16) return null;
  return { seq: ext.payload.readUInt32BE(0), sentAt: ext.payload.readDoubleBE(extSentAtOffset), runId: ext.payload.readUInt32BE(12) };
}

/**
 * Stamps the send time into a packet's measuring fields right before it is written, so the
 * SRTP work of the other bots served by the same pacer tick is not counted as network delay.
 */
function stampSendTime(header: RtpHeader | null, payload: Buffer, t = now()): void {
  const ext = header?.extension ? header.extensions.find((e) => e.id === measureExtId) : undefined;
  if (ext) ext.payload.writeDoubleBE(t, extSentAtOffset);
  else if (payload.length >= syntheticHeaderBytes && payload.readUInt16BE(0) === magic) payload.writeDoubleBE(t, sentAtOffset);
}

/** A random run id (never 0), shared by every bot of one run. */
export function newRunId(): number {
  return 1 + Math.floor(Math.random() * 0xfffffffe);
}

/** Splits a per-peer bitrate between audio and video the way a call typically does. */
export function splitBitrate(kbps: number): { audioBytes: number; videoFrameBytes: number } {
  const audioKbps = Math.min(32, kbps * 0.2);
  const audioBytes = Math.max(syntheticHeaderBytes, Math.round((audioKbps * 1000) / 8 / (1000 / audioIntervalMs)));
  const videoKbps = Math.max(0, kbps - audioKbps);
  const videoFrameBytes = Math.max(syntheticHeaderBytes, Math.round((videoKbps * 1000) / 8 / videoFps));
  return { audioBytes, videoFrameBytes };
}

/** A frame source for the video track: VP8 clip or synthetic padding. */
export interface VideoFrames {
  /** Payloads (already packetized) of the next frame, and whether it is a keyframe. */
  next(): { packets: Buffer[]; key: boolean };
  /** Picture loss: the next frame returned must be decodable on its own. */
  requestKeyframe(): void;
}

/** Anything ticking on the shared pacer. */
export interface Paced {
  /** When it next has something to do (ms, `now()`): not ticked before. */
  readonly dueAt: number;
  tick(t: number): void;
}

const pacerPeriodMs = 10;

/**
 * One timer per thread drives every sender: with hundreds of bots per thread, a timer per
 * track would cost more than the media itself. It ticks every 10 ms, the period in which a
 * browser's WebRTC stack takes its audio: a 20 ms audio packet goes out on its time, a video
 * frame up to 10 ms after its own (an encoder's delay varies by as much). Against 5 ms ticks a
 * packet costs 6-7 % less CPU (`bench/bots-ab`, 8 rounds side by side, all below 1): a thread's
 * packets go out in bursts twice as large, which its partners' threads read in fewer wake-ups (a
 * timer's own wake-up is cheap: one timer for the pacer and the loop probe measured the same).
 * What the harness adds to the figures it measures grew by about 0.2 ms of one-way delay at the
 * median.
 */
export class Pacer {
  private readonly items = new Set<Paced>();
  private timer: NodeJS.Timeout | null = null;
  add(item: Paced): void {
    this.items.add(item);
    if (!this.timer) this.timer = setInterval(() => this.run(), pacerPeriodMs);
  }
  delete(item: Paced): void {
    this.items.delete(item);
    if (this.items.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
  private run(): void {
    const t = now();
    // A bot has nothing due in about every third tick (audio every second, a video frame every
    // third or fourth): a field compare, not a call, passes it over (at 5 ms ticks the calls
    // were about 1.5 % of the bots' CPU, and a sixth of what a connected call costs without media).
    for (const item of this.items) if (item.dueAt <= t) item.tick(t);
  }
}

/** Behind by more than this, a sender skips ahead instead of bursting (as a real encoder would). */
const maxCatchUpMs = 200;

/** Sends audio + video on two werift tracks, paced in real time. */
export class MediaSender implements Paced {
  private readonly audio: MediaStreamTrack;
  private readonly video: MediaStreamTrack;
  private readonly kind: MediaKind;
  private readonly audioBytes: number;
  private readonly videoFrameBytes: number;
  private readonly frames: VideoFrames | null;
  private nextAudioAt = 0;
  private nextVideoAt = 0;
  private audioSeq = 0;
  private videoSeq = 0;
  private audioRtpSeq = Math.floor(Math.random() * 65536);
  private videoRtpSeq = Math.floor(Math.random() * 65536);
  private audioTs = Math.floor(Math.random() * 2 ** 31);
  private videoTs = Math.floor(Math.random() * 2 ** 31);
  private frameId = 0;
  private startedAt = 0;
  /** The next audio packet's or video frame's time; never before `start`. */
  dueAt = Infinity;
  /** The bots' own RTP path (synthetic media, see `rtp-path.ts`); null: werift's tracks. */
  rtpPath: RtpPath | null = null;
  private readonly scratch = new Map<number, Buffer>();
  /** vp8: seq and send time ride in our RTP header extension, unless the partner did not negotiate it. */
  measureInHeader = true;
  packetsSent = 0;
  bytesSent = 0;

  private readonly runId: number;

  constructor(opts: { audio: MediaStreamTrack; video: MediaStreamTrack; kind: MediaKind; bitrateKbps: number; frames?: VideoFrames; runId: number }) {
    this.runId = opts.runId;
    this.audio = opts.audio;
    this.video = opts.video;
    this.kind = opts.kind;
    const split = splitBitrate(opts.bitrateKbps);
    this.audioBytes = split.audioBytes;
    this.videoFrameBytes = split.videoFrameBytes;
    this.frames = opts.frames ?? null;
  }

  start(t = now()): void {
    this.startedAt = t;
    this.nextAudioAt = t;
    this.nextVideoAt = t;
    this.dueAt = t;
  }

  get started(): boolean {
    return this.startedAt > 0;
  }

  requestKeyframe(): void {
    this.frames?.requestKeyframe();
  }

  /** Packets sent per stream: the partner's expected counts (whole-call accounting). */
  sent(): { audio: number; video: number } {
    return { audio: this.audioSeq, video: this.videoSeq };
  }

  tick(t: number): void {
    if (!this.started) return;
    if (t - this.nextAudioAt > maxCatchUpMs) this.nextAudioAt = t;
    if (t - this.nextVideoAt > maxCatchUpMs) this.nextVideoAt = t;
    while (this.nextAudioAt <= t) {
      this.sendAudio(t);
      this.nextAudioAt += audioIntervalMs;
      this.audioTs = (this.audioTs + (48000 * audioIntervalMs) / 1000) >>> 0;
    }
    while (this.nextVideoAt <= t) {
      this.sendVideoFrame(t);
      this.nextVideoAt += videoIntervalMs;
      this.videoTs = (this.videoTs + 90000 / videoFps) >>> 0;
    }
    this.dueAt = Math.min(this.nextAudioAt, this.nextVideoAt);
  }

  private sendAudio(t: number): void {
    const seq = this.audioSeq++;
    const rtpSeq = this.audioRtpSeq;
    this.audioRtpSeq = (this.audioRtpSeq + 1) & 0xffff;
    if (this.kind === "synthetic") {
      const payload = writeSynthetic(this.payloadBuffer(this.audioBytes), {
        kind: "audio",
        runId: this.runId,
        seq,
        sentAt: t,
        frameId: seq,
        frameStart: true,
        frameEnd: true,
      });
      this.write("audio", rtpSeq, this.audioTs, false, payload, null);
    } else {
      // A valid 20 ms Opus silence frame, so a browser's decoder plays silence instead of noise.
      this.write("audio", rtpSeq, this.audioTs, true, Buffer.from([0xf8, 0xff, 0xfe]), { seq, t });
    }
  }

  private sendVideoFrame(t: number): void {
    const frameId = this.frameId++;
    if (this.kind === "synthetic") {
      const n = Math.max(1, Math.ceil(this.videoFrameBytes / maxPayload));
      const size = Math.max(syntheticHeaderBytes, Math.round(this.videoFrameBytes / n));
      for (let i = 0; i < n; i++) {
        const end = i === n - 1;
        const rtpSeq = this.videoRtpSeq;
        this.videoRtpSeq = (this.videoRtpSeq + 1) & 0xffff;
        const payload = writeSynthetic(this.payloadBuffer(size), {
          kind: "video",
          runId: this.runId,
          seq: this.videoSeq++,
          sentAt: t,
          frameId,
          frameStart: i === 0,
          frameEnd: end,
        });
        this.write("video", rtpSeq, this.videoTs, end, payload, null);
      }
      return;
    }
    const frame = this.frames!.next();
    frame.packets.forEach((payload, i) => {
      const rtpSeq = this.videoRtpSeq;
      this.videoRtpSeq = (this.videoRtpSeq + 1) & 0xffff;
      this.write("video", rtpSeq, this.videoTs, i === frame.packets.length - 1, payload, { seq: this.videoSeq++, t });
    });
  }

  /**
   * A synthetic payload's buffer: zeros after the measuring header. The bots' RTP path encrypts
   * it into a new packet before `write` returns, so one buffer per size serves every packet;
   * werift's tracks may hold a payload (queued until DTLS is up), so they get fresh ones.
   */
  private payloadBuffer(size: number): Buffer {
    if (!this.rtpPath) return Buffer.alloc(size);
    let buf = this.scratch.get(size);
    if (!buf) this.scratch.set(size, (buf = Buffer.alloc(size)));
    return buf;
  }

  /** `measure`: our seq and send time, in the header extension (vp8) when negotiated. */
  private write(
    kind: "audio" | "video",
    sequenceNumber: number,
    timestamp: number,
    marker: boolean,
    payload: Buffer,
    measure: { seq: number; t: number } | null,
  ): void {
    this.packetsSent++;
    this.bytesSent += payload.length;
    if (this.rtpPath && !measure) {
      stampSendTime(null, payload);
      return this.rtpPath.send(kind, sequenceNumber, timestamp, marker, payload);
    }
    const header =
      measure && this.measureInHeader
        ? new RtpHeader({
            sequenceNumber,
            timestamp,
            marker,
            extension: true,
            extensions: [{ id: measureExtId, payload: writeMeasureExt(measure.seq, measure.t, this.runId) }],
          })
        : new RtpHeader({ sequenceNumber, timestamp, marker });
    stampSendTime(header, payload);
    (kind === "audio" ? this.audio : this.video).writeRtp(new RtpPacket(header, payload));
  }
}

/**
 * Receive side of both tracks. Reads our measuring fields from the payload (synthetic) or the
 * header extension (vp8); a partner that is not a bot (a browser) is counted from RTP sequence
 * numbers only, without delay figures, and a bot of another run is not measured at all.
 */
export class MediaReceiver {
  readonly audio = new StreamStats({ nominalFrameMs: audioIntervalMs, clockRate: 48000 });
  readonly video = new StreamStats({ nominalFrameMs: videoIntervalMs });
  /** Packets without our fields (a browser partner): RTP-level counting only. */
  foreignPackets = 0;
  /** Packets of another run (or process): their send times are on another clock. */
  otherRunPackets = 0;
  onFirstPacket: (() => void) | null = null;
  /** Longest silence between two media packets of this direction, ms. */
  maxGapMs = 0;
  private lastAt: number | null = null;
  /** The first media packet of this direction (ours or a browser's), or null. */
  firstAt: number | null = null;
  private readonly runId: number;
  private firstVideoTs: number | null = null;

  constructor(runId: number) {
    this.runId = runId;
  }

  onRtp(kind: "audio" | "video", packet: ReceivedRtp): void {
    const h = packet.header;
    this.onMedia(kind, packet.payload, h.timestamp, h.marker, h.extensions);
  }

  /** `onRtp` of a packet's fields (the bots' own RTP path: no werift-shaped packet built for it). */
  onMedia(kind: "audio" | "video", payload: Buffer, timestamp: number, marker: boolean, extensions: ReceivedRtp["header"]["extensions"] = noExtensions): void {
    const t = now();
    const size = payload.length;
    const synth = readSynthetic(payload);
    const ext = synth ? null : readMeasureExt(extensions);
    if ((synth && synth.runId !== this.runId) || (ext && ext.runId !== this.runId)) {
      this.otherRunPackets++;
      return;
    }
    if (this.lastAt === null) {
      this.firstAt = t;
      this.onFirstPacket?.();
    } else this.maxGapMs = Math.max(this.maxGapMs, t - this.lastAt);
    this.lastAt = t;
    if (synth) {
      if (synth.kind === "audio") this.audio.onPacket(synth.seq, synth.sentAt, t, size, timestamp);
      else this.video.onPacket(synth.seq, synth.sentAt, t, size, undefined, { id: synth.frameId, start: synth.frameStart, end: synth.frameEnd });
      return;
    }
    if (ext) {
      if (kind === "audio") this.audio.onPacket(ext.seq, ext.sentAt, t, size, timestamp);
      else {
        // A VP8 frame is its RTP timestamp (3000 ticks apart at 30 fps): a resent packet keeps
        // its frame. S=1 with partition 0 starts a frame (RFC 7741 §4.2); the marker bit ends it.
        this.firstVideoTs ??= timestamp;
        const id = Math.round(((timestamp - this.firstVideoTs) >>> 0) / (90000 / videoFps));
        const start = (payload[0]! & 0x17) === 0x10;
        this.video.onPacket(ext.seq, ext.sentAt, t, size, undefined, { id, start, end: marker });
      }
      return;
    }
    this.foreignPackets++;
  }

  /** The time of the last media packet, or null. */
  get lastPacketAt(): number | null {
    return this.lastAt;
  }
}
