// bench/bots-floor: what Node itself makes a bot's RTP packet cost, the floor under issue #13's
// 20 µs target. The bots' traffic without werift, ICE, TURN or coturn: `--bots` UDP sockets on
// loopback in pairs, in this one thread, each sending audio 50 packets/s and video 30 frames/s
// (~300 kbps, as `bench/bots-density`) from the bots' 10 ms pacer, each packet AES-GCM protected
// on send and authenticated on receive. Two rounds, alternated, CPU over packets sent and received:
//
//   node: the bots' AES-GCM primitives and a `dgram` send and receive, nothing else: Node's cipher
//         object per packet each way, except audio's short packets (`bots/gcm.ts`, as the bots);
//   bots: the bots' own SRTP (`bots/srtp.ts`), synthetic payload, replay window and measuring.
//
// The difference to `bench/bots-density`'s µs per packet at 100 relayed calls (200 bots) is what
// werift's connection life (consent checks, DTLS, SCTP), signaling and the glue cost on top.
//
//   node bench/bots-floor/run.ts [--bots 200] [--seconds 8] [--rounds 2]
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { now } from "../../bots/clock.ts";
import { GcmKey, Keystreams, open, seal, shortGcmMaxBytes } from "../../bots/gcm.ts";
import { ReplayWindow } from "../../bots/integrity.ts";
import { audioIntervalMs, MediaReceiver, Pacer, splitBitrate, videoIntervalMs, writeSynthetic, type Paced } from "../../bots/media.ts";
import { GcmReceiver, GcmSender, type GcmKeys } from "../../bots/srtp.ts";
import { SsrcMap } from "../../bots/ssrc-map.ts";

const { values } = parseArgs({
  options: { bots: { type: "string", default: "200" }, seconds: { type: "string", default: "8" }, rounds: { type: "string", default: "2" } },
});
/** `value` as a number within [min, max]; `fallback` when it is not a number. */
const bounded = (value: string, fallback: number, min: number, max: number) => Math.min(Math.max(min, Number(value) || fallback), max);
const BOTS = Math.floor(bounded(values.bots, 200, 2, 1000) / 2) * 2;
const SECONDS = bounded(values.seconds, 8, 2, 60);
const ROUNDS = Math.floor(bounded(values.rounds, 2, 1, 5));
const WARMUP_MS = 2000;
const { audioBytes, videoFrameBytes } = splitBitrate(300);
const audioPt = 111;
const videoPt = 96;

/** Sends one packet of a bot (its receive side is the socket's `message` listener). */
type Send = (kind: "audio" | "video", seq: number, t: number) => void;

/** One bot on the bots' shared pacer: audio every 20 ms, a video frame (one packet) every 33 ms. */
class Bot implements Paced {
  dueAt: number;
  private nextAudioAt: number;
  private nextVideoAt: number;
  private audioSeq = 0;
  private videoSeq = 0;
  private readonly send: Send;
  private readonly counts: { sent: number };

  constructor(send: Send, counts: { sent: number }, t0: number) {
    this.send = send;
    this.counts = counts;
    this.nextAudioAt = t0 + Math.random() * audioIntervalMs;
    this.nextVideoAt = t0 + Math.random() * videoIntervalMs;
    this.dueAt = Math.min(this.nextAudioAt, this.nextVideoAt);
  }

  tick(t: number): void {
    while (this.nextAudioAt <= t) {
      this.send("audio", this.audioSeq++, t);
      this.nextAudioAt += audioIntervalMs;
      this.counts.sent++;
    }
    while (this.nextVideoAt <= t) {
      this.send("video", this.videoSeq++, t);
      this.nextVideoAt += videoIntervalMs;
      this.counts.sent++;
    }
    this.dueAt = Math.min(this.nextAudioAt, this.nextVideoAt);
  }
}

type Round = "node" | "bots";

/** `--bots` sockets, each connected to its partner's. */
async function sockets(): Promise<dgram.Socket[]> {
  const all: dgram.Socket[] = [];
  for (let i = 0; i < BOTS; i++) {
    const s = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
    all.push(s);
  }
  for (let i = 0; i < BOTS; i++) {
    const partner = all[i ^ 1]!;
    await new Promise<void>((resolve) => all[i]!.connect(partner.address().port, "127.0.0.1", resolve));
  }
  return all;
}

/** Node's floor: a 12-byte RTP header, the payload under AES-GCM, the tag; checked on receive. */
function nodeBot(socket: dgram.Socket, counts: { received: number }, keys: GcmKeys): Send {
  const key = createSecretKey(keys.key);
  const iv = Buffer.from(keys.salt.subarray(0, 12));
  const audio = Buffer.alloc(audioBytes);
  const video = Buffer.alloc(videoFrameBytes);
  // The IV carries the sequence number (RFC 7714 §8.1 XORs it in with the SSRC and ROC).
  const rxIv = Buffer.from(iv);
  const short = new GcmKey(key);
  const ivOf = (index: number, into: Buffer, at: number) => {
    iv.copy(into, at, 0, 10);
    into.writeUInt16BE(index & 0xffff, at + 10);
  };
  const txStreams = new Keystreams(short, ivOf);
  const rxStreams = new Keystreams(short, ivOf);
  socket.on("message", (data: Buffer) => {
    const seq = data.readUInt16BE(2);
    const tagAt = data.length - 16;
    if (tagAt - 12 <= shortGcmMaxBytes) {
      const ks = rxStreams.get(seq, tagAt - 12);
      if (!open(short, ks, rxStreams.at, data, 12, tagAt)) throw new Error("bench: a packet failed SRTP");
    } else {
      rxIv.writeUInt16BE(seq, 10);
      const d = createDecipheriv("aes-128-gcm", key, rxIv);
      d.setAAD(data.subarray(0, 12));
      d.setAuthTag(data.subarray(tagAt));
      d.update(data.subarray(12, tagAt));
      d.final();
    }
    counts.received++;
  });
  return (kind, seq) => {
    const payload = kind === "audio" ? audio : video;
    const out = Buffer.allocUnsafe(12 + payload.length + 16);
    out[0] = 0x80;
    out[1] = kind === "audio" ? audioPt : videoPt;
    out.writeUInt16BE(seq & 0xffff, 2);
    out.writeUInt32BE(0, 4);
    out.writeUInt32BE(0, 8);
    if (payload.length <= shortGcmMaxBytes) {
      const ks = txStreams.get(seq & 0xffff, payload.length);
      seal(short, ks, txStreams.at, payload, out, 0, 12);
    } else {
      iv.writeUInt16BE(seq & 0xffff, 10);
      const c = createCipheriv("aes-128-gcm", key, iv);
      c.setAAD(out.subarray(0, 12));
      c.update(payload).copy(out, 12);
      c.final();
      c.getAuthTag().copy(out, 12 + payload.length);
    }
    socket.send(out);
  };
}

/** The bots' own per-packet work: `bots/srtp.ts`, the synthetic payload, replay window, measuring. */
function botsBot(socket: dgram.Socket, counts: { received: number }, keys: GcmKeys, ssrc: number): Send {
  const runId = 7;
  const sender = new GcmSender(keys);
  const receiver = new GcmReceiver(keys);
  const media = new MediaReceiver(runId);
  const windows = new SsrcMap<ReplayWindow>();
  const audio = Buffer.alloc(audioBytes);
  const video = Buffer.alloc(videoFrameBytes);
  socket.on("message", (data: Buffer) => {
    const rtp = receiver.unprotect(data);
    if (typeof rtp === "string") throw new Error(`bench: a packet failed SRTP (${rtp})`);
    let window = windows.get(rtp.ssrc);
    if (!window) windows.set(rtp.ssrc, (window = new ReplayWindow()));
    if (!window.accept(rtp.index)) throw new Error("bench: a replayed packet");
    const kind = rtp.payloadType === audioPt ? "audio" : "video";
    media.onRtp(kind, { header: { timestamp: rtp.timestamp, marker: rtp.marker, extensions: [] }, payload: rtp.payload });
    counts.received++;
  });
  return (kind, seq, t) => {
    const payload = writeSynthetic(kind === "audio" ? audio : video, { kind, runId, seq, sentAt: t, frameId: seq, frameStart: true, frameEnd: true });
    const packet = sender.protect({
      payloadType: kind === "audio" ? audioPt : videoPt,
      sequenceNumber: seq & 0xffff,
      timestamp: (seq * 960) >>> 0,
      marker: kind === "video",
      ssrc: kind === "audio" ? ssrc : ssrc + 1,
      payload,
    });
    socket.send(packet);
  };
}

/** One round: warm-up, then CPU µs of this process over the packets sent and received. */
async function round(kind: Round): Promise<{ usPerPacket: number; packetsPerS: number }> {
  const all = await sockets();
  const counts = { received: 0, sent: 0 };
  // A pair shares its keys (each end sends and receives on the same session keys here).
  const pairKeys = Array.from({ length: BOTS / 2 }, () => ({ key: randomBytes(16), salt: randomBytes(14) }));
  const t0 = now();
  const pacer = new Pacer();
  const bots = all.map(
    (socket, i) => new Bot(kind === "node" ? nodeBot(socket, counts, pairKeys[i >> 1]!) : botsBot(socket, counts, pairKeys[i >> 1]!, 1000 + 2 * i), counts, t0),
  );
  for (const b of bots) pacer.add(b);
  await sleep(WARMUP_MS);
  const start = { cpu: process.cpuUsage(), packets: counts.sent + counts.received, t: now() };
  await sleep(SECONDS * 1000);
  const cpu = process.cpuUsage(start.cpu);
  const packets = counts.sent + counts.received - start.packets;
  const result = { usPerPacket: (cpu.user + cpu.system) / packets, packetsPerS: packets / ((now() - start.t) / 1000) };
  for (const b of bots) pacer.delete(b);
  await Promise.all(all.map((s) => new Promise<void>((resolve) => s.close(resolve))));
  if (counts.received < counts.sent * 0.99) throw new Error(`bench: ${counts.sent - counts.received} of ${counts.sent} packets lost on loopback`);
  return result;
}

console.log(
  `bench/bots-floor: ${BOTS} bots (${BOTS / 2} calls) in one thread, ${SECONDS} s per round after ${WARMUP_MS / 1000} s, ${ROUNDS} rounds of each, alternated`,
);
const figures: Record<Round, number[]> = { node: [], bots: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const kind of ["node", "bots"] as const) {
    const { usPerPacket, packetsPerS } = await round(kind);
    figures[kind].push(usPerPacket);
    console.log(`${kind.padEnd(5)} round ${r + 1}: ${usPerPacket.toFixed(2)} µs of CPU per packet sent or received (${Math.round(packetsPerS)} packets/s)`);
  }
}
const best = (xs: number[]) => Math.min(...xs);
const node = best(figures.node);
const bots = best(figures.bots);
console.log(`best: Node's floor ${node.toFixed(2)} µs/packet; the bots' per-packet work ${bots.toFixed(2)} µs/packet (${(bots / node).toFixed(2)}x the floor)`);
console.log(JSON.stringify({ bench: "bots-floor", bots: BOTS, seconds: SECONDS, node: figures.node, botsPath: figures.bots, ratio: bots / node }));
