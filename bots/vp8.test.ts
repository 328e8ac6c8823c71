import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { defaultClipPath, loadVp8Clip, packetizeVp8, parseIvf, Vp8Player } from "./vp8.ts";

describe("the shipped VP8 test pattern", () => {
  it("is a small VP8 IVF clip at 30 fps with a key frame every half second", () => {
    const size = readFileSync(defaultClipPath).length;
    expect(size).toBeLessThan(300 * 1024);
    const { clip } = loadVp8Clip();
    expect(clip).toMatchObject({ width: 320, height: 240, fps: 30 });
    expect(clip.frames.length).toBe(120);
    const keys = clip.frames.flatMap((f, i) => (f.key ? [i] : []));
    expect(keys).toEqual([0, 15, 30, 45, 60, 75, 90, 105]);
    // ~300 kbps: the bytes of 4 s of video.
    const kbps = (clip.frames.reduce((a, f) => a + f.data.length, 0) * 8) / 4 / 1000;
    expect(kbps).toBeGreaterThan(200);
    expect(kbps).toBeLessThan(400);
  });

  it("rejects what is not VP8 IVF", () => {
    expect(() => parseIvf(Buffer.from("not a clip"))).toThrow(/not an IVF/);
    const h264 = Buffer.from(readFileSync(defaultClipPath));
    h264.write("H264", 8, "latin1");
    expect(() => parseIvf(h264)).toThrow(/not VP8/);
  });
});

describe("RFC 7741 packetization", () => {
  it("splits a frame with S=1 only on the first packet and a 15-bit PictureID, and reassembles", () => {
    const frame = Buffer.from(Array.from({ length: 2500 }, (_, i) => i & 0xff));
    const packets = packetizeVp8(frame, 0x1234, 1100);
    expect(packets).toHaveLength(3);
    expect(packets.every((p) => p.length <= 1100)).toBe(true);
    expect(packets.map((p) => (p[0]! & 0x10) !== 0)).toEqual([true, false, false]);
    for (const p of packets) {
      expect(p[0]! & 0x80).toBe(0x80); // X
      expect(p[1]).toBe(0x80); // I
      expect(((p[2]! & 0x7f) << 8) | p[3]!).toBe(0x1234);
    }
    expect(Buffer.concat(packets.map((p) => p.subarray(4)))).toEqual(frame);
  });
});

describe("the looping player", () => {
  it("loops the clip and answers a picture loss with the next key frame", () => {
    const { clip } = loadVp8Clip();
    const player = new Vp8Player(clip);
    for (let i = 0; i < 20; i++) player.next(); // now at frame 20
    player.requestKeyframe();
    const next = player.next();
    expect(next.key).toBe(true);
    // Sent frame 30 (the next key frame); playing on continues from 31.
    expect(Buffer.concat(next.packets.map((p) => p.subarray(4)))).toEqual(clip.frames[30]!.data);
    for (let i = 31; i < 120; i++) player.next();
    expect(player.next().key).toBe(true); // wrapped to frame 0
  });
});
