/**
 * The bots' own RTCP (`rtcp.ts`): what it writes is RTCP werift's own parser reads field by
 * field, and the round trip read back from a partner's report blocks is the time the reports
 * really took. The same reports over a real coturn are in `pair.test.ts` (`rtcpRttMs`).
 */
import { describe, expect, it } from "vitest";
import { RtcpPacketConverter, RtcpSourceDescriptionPacket, RtcpSrPacket } from "werift";
import { RtcpReports } from "./rtcp.ts";

const t0 = Date.UTC(2026, 10, 30, 12, 0, 0);
const audio = { ssrc: 0x11111111, clockRate: 48000 };
const video = { ssrc: 0x22222222, clockRate: 90000 };
const partnerAudio = 0x33333333;

/** Our reports after `n` audio packets sent (20 ms apart) and the partner's audio received with `missing` left out. */
function reportsAfter(n: number, missing: number[] = []) {
  const r = new RtcpReports([audio, video], "bot-7", t0);
  for (let i = 0; i < n; i++) {
    r.sent(0, 1000 + 960 * i, 100, t0 + 20 * i);
    if (!missing.includes(i)) r.received(partnerAudio, 48000, 65530 + i, 5000 + 960 * i, t0 + 20 * i + 15);
  }
  return r;
}

describe("the bots' RTCP reports", () => {
  it("are RTCP werift's parser reads: a sender report per stream, report blocks, the CNAME", () => {
    const r = reportsAfter(100, [10]);
    const packets = RtcpPacketConverter.deSerialize(r.report(t0 + 2000));
    expect(packets.map((p) => p.type)).toEqual([200, 200, 202]);
    const [sr, srVideo, sdes] = packets as [RtcpSrPacket, RtcpSrPacket, RtcpSourceDescriptionPacket];
    expect(sr.ssrc).toBe(audio.ssrc);
    expect(sr.senderInfo.packetCount).toBe(100);
    expect(sr.senderInfo.octetCount).toBe(100 * 100);
    // RTP time of the report's instant: the last packet's (at t0 + 1980) plus 20 ms at 48 kHz.
    expect(sr.senderInfo.rtpTimestamp).toBe(1000 + 960 * 99 + 960);
    // NTP time: seconds since 1900.
    expect(Number(sr.senderInfo.ntpTimestamp >> 32n)).toBe((t0 + 2000) / 1000 + 2208988800);
    expect(sr.reports).toHaveLength(1);
    const block = sr.reports[0]!;
    expect(block.ssrc).toBe(partnerAudio);
    // 100 expected (extended sequence numbers 65530-65629, across a wrap), one missing.
    expect(block.highestSequence).toBe(65530 + 99);
    expect(block.packetsLost).toBe(1);
    expect(block.fractionLost).toBe(Math.floor(256 / 100));
    // Constant transit: no jitter. No sender report from the partner yet: LSR and DLSR are zero.
    expect(block.jitter).toBe(0);
    expect([block.lsr, block.dlsr]).toEqual([0, 0]);
    expect(srVideo.ssrc).toBe(video.ssrc);
    expect(srVideo.reports).toHaveLength(0);
    // Nothing sent on video yet: no packets, no RTP time.
    expect([srVideo.senderInfo.packetCount, srVideo.senderInfo.rtpTimestamp]).toEqual([0, 0]);
    expect(sdes.chunks.map((c) => [c.source, c.items[0]!.type, c.items[0]!.text])).toEqual([
      [audio.ssrc, 1, "bot-7"],
      [video.ssrc, 1, "bot-7"],
    ]);
    // The interval's fraction starts again: nothing lost since the last report.
    const next = RtcpPacketConverter.deSerialize(r.report(t0 + 3000))[0] as RtcpSrPacket;
    expect([next.reports[0]!.fractionLost, next.reports[0]!.packetsLost]).toEqual([0, 1]);
  });

  it("measure the round trip from the partner's report block on our last sender report", () => {
    const ours = new RtcpReports([audio, video], "a", t0);
    const theirs = new RtcpReports(
      [
        { ...audio, ssrc: partnerAudio },
        { ...video, ssrc: 0x44444444 },
      ],
      "b",
      t0,
    );
    ours.received(partnerAudio, 48000, 1, 0, t0);
    theirs.received(audio.ssrc, 48000, 1, 0, t0);
    const rtts: number[] = [];
    ours.onRoundTrip = (ssrc, ms) => rtts.push(ssrc, ms);
    // Ours leaves at +1000 and takes 12 ms; theirs answers 250 ms after it arrived, and takes 18 ms back.
    expect(theirs.read(ours.report(t0 + 1000), t0 + 1012)).toBe(true);
    expect(ours.read(theirs.report(t0 + 1262), t0 + 1280)).toBe(true);
    expect(rtts).toHaveLength(2);
    expect(rtts[0]).toBe(audio.ssrc);
    expect(rtts[1]).toBeCloseTo(30, 1); // 1/65536 s of DLSR rounding
    // A block on an older report of ours gives no sample.
    ours.report(t0 + 2000);
    expect(ours.read(theirs.report(t0 + 2100), t0 + 2120)).toBe(true);
    expect(rtts).toHaveLength(2);
    // On loopback the round trip can be shorter than DLSR's rounding (1/65536 s): 0, never below
    // (a negative RTT is refused by the service's call:stats).
    const report = ours.report(t0 + 3000);
    expect(theirs.read(report, t0 + 3000)).toBe(true);
    expect(ours.read(theirs.report(t0 + 3000.01), t0 + 3000.01)).toBe(true);
    expect(rtts).toEqual([audio.ssrc, rtts[1], audio.ssrc, 0]);
  });

  it("track jitter as RFC 3550 A.8 does: transit changes smoothed by 1/16", () => {
    const r = new RtcpReports([audio, video], "a", t0);
    // Every other packet 8 ms late (384 units at 48 kHz).
    for (let i = 0; i < 400; i++) r.received(partnerAudio, 48000, i, 960 * i, t0 + 20 * i + (i % 2 ? 8 : 0));
    const block = (RtcpPacketConverter.deSerialize(r.report(t0 + 9000))[0] as RtcpSrPacket).reports[0]!;
    expect(block.jitter).toBeGreaterThan(370);
    expect(block.jitter).toBeLessThanOrEqual(384);
  });

  it("refuse what is not well-formed RTCP and send reports every 0.5-1.5 s", () => {
    const r = reportsAfter(10);
    const good = r.report(t0 + 500);
    expect(r.read(good.subarray(0, good.length - 3), t0)).toBe(false);
    const v1 = Buffer.from(good);
    v1[0] = 0x40 | (v1[0]! & 0x3f);
    expect(r.read(v1, t0)).toBe(false);
    const longer = Buffer.from(good);
    longer.writeUInt16BE(200, 2);
    expect(r.read(longer, t0)).toBe(false);
    expect(r.read(good, t0)).toBe(true);
    const due: number[] = [];
    for (let ms = t0; ms < t0 + 60_000; ms += 10) if (r.due(ms)) due.push(ms);
    const gaps = due.slice(1).map((x, i) => x - due[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1510);
    expect(due.length).toBeGreaterThan(45);
    expect(due.length).toBeLessThan(75);
  });

  it("end with a BYE on hang-up, which the partner reads as its partner gone", () => {
    const ours = reportsAfter(10);
    const plain = ours.report(t0 + 500);
    const last = ours.report(t0 + 500, true);
    // RFC 3550 §6.1: BYE last in the compound packet (werift's parser reads the rest and skips
    // it), one SSRC per stream we send: version 2, count 2, type 203, length 2 words after the header.
    expect(RtcpPacketConverter.deSerialize(last).map((p) => p.type)).toEqual([200, 200, 202]);
    const bye = last.subarray(plain.length);
    expect([bye[0], bye[1], bye.readUInt16BE(2), bye.readUInt32BE(4), bye.readUInt32BE(8), bye.length]).toEqual([0x82, 203, 2, audio.ssrc, video.ssrc, 12]);
    // The partner: it receives our audio, so our BYE is its partner leaving.
    const partner = new RtcpReports([{ ssrc: partnerAudio, clockRate: 48000 }], "bot-8", t0);
    const byes: number[] = [];
    partner.onBye = (ssrc) => byes.push(ssrc);
    expect(partner.read(ours.report(t0 + 500), t0 + 501)).toBe(true);
    expect(byes).toEqual([]);
    partner.received(audio.ssrc, 48000, 1, 1000, t0 + 480);
    expect(partner.read(ours.report(t0 + 520, true), t0 + 521)).toBe(true);
    // Only streams it receives: the video it never saw is not its partner's.
    expect(byes).toEqual([audio.ssrc]);
  });
});
