/**
 * The VP8 test pattern: an IVF file (made once by `scripts/make-vp8-clip.sh` with ffmpeg and
 * shipped in the package), read at run time without any native code, packetized per RFC 7741,
 * and looped with continuous RTP timestamps (the sender adds 90000/30 per frame).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { VideoFrames } from "./media.ts";

export const defaultClipPath = fileURLToPath(new URL("./assets/testpattern-vp8.ivf", import.meta.url));

export interface IvfFrame {
  data: Buffer;
  key: boolean;
}

export interface IvfClip {
  width: number;
  height: number;
  fps: number;
  frames: IvfFrame[];
}

/** Parses an IVF container (32-byte file header, 12-byte frame headers, little endian). */
export function parseIvf(buf: Buffer): IvfClip {
  if (buf.length < 32 || buf.toString("latin1", 0, 4) !== "DKIF") throw new Error("not an IVF file");
  const fourcc = buf.toString("latin1", 8, 12);
  if (fourcc !== "VP80") throw new Error(`IVF codec ${fourcc} is not VP8`);
  const headerSize = buf.readUInt16LE(6);
  const width = buf.readUInt16LE(12);
  const height = buf.readUInt16LE(14);
  const rate = buf.readUInt32LE(16);
  const scale = buf.readUInt32LE(20) || 1;
  const frames: IvfFrame[] = [];
  let off = headerSize;
  while (off + 12 <= buf.length) {
    const size = buf.readUInt32LE(off);
    const data = buf.subarray(off + 12, off + 12 + size);
    if (data.length < size) break;
    // RFC 6386 §9.1: bit 0 of the frame tag is 0 on a key frame.
    frames.push({ data, key: (data[0]! & 1) === 0 });
    off += 12 + size;
  }
  if (frames.length === 0 || !frames[0]!.key) throw new Error("IVF clip must start with a key frame");
  return { width, height, fps: rate / scale, frames };
}

/**
 * RFC 7741 §4.2 payload descriptor with a 15-bit PictureID (X=1, I=1, M=1), which lets a
 * receiver tell frames apart after a loss; S=1 on the first packet of a frame.
 */
export function packetizeVp8(frame: Buffer, pictureId: number, maxPayload = 1100): Buffer[] {
  const chunk = maxPayload - 4;
  const out: Buffer[] = [];
  for (let off = 0; off < frame.length || out.length === 0; off += chunk) {
    const part = frame.subarray(off, Math.min(frame.length, off + chunk));
    const head = Buffer.from([0x80 | (off === 0 ? 0x10 : 0), 0x80, 0x80 | ((pictureId >> 8) & 0x7f), pictureId & 0xff]);
    out.push(Buffer.concat([head, part]));
  }
  return out;
}

export interface LoadedClip {
  clip: IvfClip;
  /** A new independent player over the shared frames (one per bot). */
  player(): VideoFrames;
}

let cached: LoadedClip | null = null;

/** Loads the shipped clip once per thread; every bot of the thread shares its frames. */
export function loadVp8Clip(path = defaultClipPath): LoadedClip {
  if (cached && path === defaultClipPath) return cached;
  const clip = parseIvf(readFileSync(path));
  // Packetize once: the payloads are identical for every bot except the PictureID bytes,
  // which each player rewrites into a copy-free header below.
  const loaded: LoadedClip = { clip, player: () => new Vp8Player(clip) };
  if (path === defaultClipPath) cached = loaded;
  return loaded;
}

/** Loops the clip; after a PLI it jumps to the next key frame so the receiver recovers at once. */
export class Vp8Player implements VideoFrames {
  private readonly clip: IvfClip;
  private index = 0;
  private pictureId = Math.floor(Math.random() * 0x8000);
  private wantKey = false;
  keyframesSent = 0;
  constructor(clip: IvfClip) {
    this.clip = clip;
  }
  requestKeyframe(): void {
    this.wantKey = true;
  }
  next(): { packets: Buffer[]; key: boolean } {
    const frames = this.clip.frames;
    if (this.wantKey && !frames[this.index]!.key) {
      let i = this.index;
      do i = (i + 1) % frames.length;
      while (!frames[i]!.key);
      this.index = i;
    }
    this.wantKey = false;
    const frame = frames[this.index]!;
    this.index = (this.index + 1) % frames.length;
    if (frame.key) this.keyframesSent++;
    this.pictureId = (this.pictureId + 1) & 0x7fff;
    return { packets: packetizeVp8(frame.data, this.pictureId), key: frame.key };
  }
}
