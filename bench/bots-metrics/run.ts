// bench/bots-metrics: what the bots' measuring costs per received packet (the receiver's
// accounting: seen window, delay histogram, RFC 3550 jitter, frames; and the SRTP replay
// window), against what werift itself spends on the same packet (SRTP decrypt and RTP parse), in
// the same run, with the ratio. Bounded: a fixed number of packets, best of five rounds.
//
//   node bench/bots-metrics/run.ts [--packets 20000]
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { ProtectionProfileAes128CmHmacSha1_80, RtpHeader, RtpPacket, SrtpSession } from "werift";
import { now } from "../../bots/clock.ts";
import { ReplayWindow } from "../../bots/integrity.ts";
import { MediaReceiver, writeSynthetic } from "../../bots/media.ts";

const { values } = parseArgs({ options: { packets: { type: "string", default: "20000" } } });
const N = Math.min(Math.max(1000, Number(values.packets)), 1_000_000);

const key = randomBytes(16);
const salt = randomBytes(14);
const config = (local: boolean) => ({
  profile: ProtectionProfileAes128CmHmacSha1_80,
  keys: local
    ? { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(14) }
    : { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(14), remoteMasterKey: key, remoteMasterSalt: salt },
});
const sender = new SrtpSession(config(true));

// Audio and video packets as the bots send them (synthetic payload, ~80 and ~1200 bytes).
const runId = 42;
const plain: RtpPacket[] = [];
const encrypted: Buffer[] = [];
for (let i = 0; i < N; i++) {
  const audio = i % 8 < 5;
  const header = new RtpHeader({ sequenceNumber: i & 0xffff, timestamp: (i * 960) >>> 0, ssrc: audio ? 1111 : 2222, payloadType: audio ? 111 : 96, marker: !audio });
  const payload = writeSynthetic(Buffer.alloc(audio ? 80 : 1200), { kind: audio ? "audio" : "video", runId, seq: i, sentAt: now(), frameId: i, frameStart: true, frameEnd: true });
  plain.push(new RtpPacket(header, payload));
  encrypted.push(sender.encrypt(payload, header));
}

function best(fn: () => void): number {
  let min = Infinity;
  for (let round = 0; round < 5; round++) {
    const t = performance.now();
    fn();
    min = Math.min(min, performance.now() - t);
  }
  return (min * 1e6) / N; // ns per packet
}

// werift's own receive work per packet: authenticate + decrypt, then parse.
const werift = best(() => {
  const rx = new SrtpSession(config(false));
  for (const buf of encrypted) RtpPacket.deSerialize(rx.decrypt(buf));
});
// The bots' measuring on top: the replay window and the receiver's accounting.
const measuring = best(() => {
  const windows = new Map([[1111, new ReplayWindow()], [2222, new ReplayWindow()]]);
  const media = new MediaReceiver(runId);
  for (let i = 0; i < N; i++) {
    const p = plain[i]!;
    windows.get(p.header.ssrc)!.accept(i);
    media.onRtp(p.header.ssrc === 1111 ? "audio" : "video", p);
  }
});
console.log(`bench/bots-metrics: ${N} packets (5 audio : 3 video), best of 5 rounds`);
console.log(`werift SRTP decrypt + RTP parse: ${(werift / 1000).toFixed(2)} µs/packet`);
console.log(`bots measuring (replay window + accounting): ${(measuring / 1000).toFixed(2)} µs/packet`);
console.log(`measuring / werift receive: ${((100 * measuring) / werift).toFixed(1)} %`);
console.log(JSON.stringify({ bench: "bots-metrics", packets: N, weriftNsPerPacket: Math.round(werift), measuringNsPerPacket: Math.round(measuring), ratio: measuring / werift }));
