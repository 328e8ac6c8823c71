import dgram from "node:dgram";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { carriesMedia, peerPayload, splitTurnFrames, startTcpProxy, startUdpProxy } from "./impair.ts";

/** ChannelData (RFC 8656 §12.4) carrying `payload`, padded to 4 bytes as over TCP. */
function channelData(payload: Buffer, pad = true): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(0x4001, 0);
  head.writeUInt16BE(payload.length, 2);
  const padding = pad ? Buffer.alloc((4 - (payload.length % 4)) % 4) : Buffer.alloc(0);
  return Buffer.concat([head, payload, padding]);
}
/** A Send indication with XOR-PEER-ADDRESS-like filler and a DATA attribute. */
function sendIndication(payload: Buffer): Buffer {
  const filler = Buffer.from([0x00, 0x12, 0x00, 0x08, 0, 1, 0, 0, 0, 0, 0, 0]);
  const dataHead = Buffer.alloc(4);
  dataHead.writeUInt16BE(0x0013, 0);
  dataHead.writeUInt16BE(payload.length, 2);
  const body = Buffer.concat([filler, dataHead, payload, Buffer.alloc((4 - (payload.length % 4)) % 4)]);
  const head = Buffer.alloc(20);
  head.writeUInt16BE(0x0016, 0);
  head.writeUInt16BE(body.length, 2);
  head.writeUInt32BE(0x2112a442, 4);
  return Buffer.concat([head, body]);
}
const rtp = Buffer.from([0x80, 0x60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9]);
const dtls = Buffer.from([22, 0xfe, 0xfd, 0, 0]);
const stun = Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);

describe("TURN framing", () => {
  it("finds the peer payload of ChannelData and Send indications", () => {
    expect(peerPayload(channelData(rtp))).toEqual(rtp);
    expect(peerPayload(sendIndication(rtp))).toEqual(rtp);
    expect(peerPayload(stun)).toBeNull();
  });

  it("treats only SRTP/SRTCP as media (RFC 7983), never DTLS or STUN", () => {
    expect(carriesMedia(channelData(rtp))).toBe(true);
    expect(carriesMedia(sendIndication(rtp))).toBe(true);
    expect(carriesMedia(channelData(dtls))).toBe(false);
    expect(carriesMedia(channelData(stun))).toBe(false);
    expect(carriesMedia(stun)).toBe(false);
  });

  it("splits a TCP stream into whole frames, keeping a partial one for later", () => {
    const a = channelData(rtp);
    const b = sendIndication(dtls);
    const whole = Buffer.concat([a, b, a]);
    const cut = whole.length - 3;
    const first = splitTurnFrames(whole.subarray(0, cut));
    expect(first.frames.map((f) => f.length)).toEqual([a.length, b.length]);
    const second = splitTurnFrames(Buffer.concat([first.rest, whole.subarray(cut)]));
    expect(second.frames).toEqual([a]);
    expect(second.rest.length).toBe(0);
  });
});

describe("UDP impairment proxy", () => {
  let echo: dgram.Socket;
  beforeAll(async () => {
    echo = dgram.createSocket("udp4");
    echo.on("message", (m, r) => echo.send(m, r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, "127.0.0.1", () => r()));
  });
  afterAll(() => echo.close());

  async function roundTrips(proxyPort: number, packets: Buffer[], gapMs: number) {
    const c = dgram.createSocket("udp4");
    const got: Array<{ i: number; rtt: number }> = [];
    const sentAt: number[] = [];
    c.on("message", (m) => {
      const i = m.readUInt16BE(m.length - 2);
      got.push({ i, rtt: performance.now() - sentAt[i]! });
    });
    await new Promise<void>((r) => c.bind(0, "127.0.0.1", () => r()));
    for (const [i, p] of packets.entries()) {
      const tagged = Buffer.concat([p, Buffer.from([i >> 8, i & 0xff])]);
      sentAt[i] = performance.now();
      c.send(tagged, proxyPort, "127.0.0.1");
      // Paced: a burst of thousands of datagrams would overflow loopback socket buffers.
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      else if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setTimeout(r, 300));
    c.close();
    return got;
  }

  it("drops the asked share of media and nothing else", async () => {
    let seed = 7;
    // A fixed pseudo-random sequence: the share dropped is then exact to check.
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const proxy = await startUdpProxy({ host: "127.0.0.1", port: echo.address().port }, { lossPct: 5, random });
    const media = Array.from({ length: 2000 }, () => channelData(rtp, false));
    const control = Array.from({ length: 200 }, () => channelData(dtls, false));
    const got = await roundTrips(proxy.port, [...media, ...control], 0);
    const mediaBack = got.filter((g) => g.i < 2000).length;
    const controlBack = got.filter((g) => g.i >= 2000).length;
    expect(controlBack).toBe(200);
    expect(proxy.counters.uplinkDropped).toBe(2000 - mediaBack);
    expect(100 * (1 - mediaBack / 2000)).toBeGreaterThan(4);
    expect(100 * (1 - mediaBack / 2000)).toBeLessThan(6);
    await proxy.close();
  });

  it("adds the asked one-way delay on the uplink only", async () => {
    const proxy = await startUdpProxy({ host: "127.0.0.1", port: echo.address().port }, { delayMs: 50 });
    const got = await roundTrips(
      proxy.port,
      Array.from({ length: 40 }, () => channelData(rtp, false)),
      10,
    );
    const rtts = got.map((g) => g.rtt).sort((a, b) => a - b);
    const median = rtts[Math.floor(rtts.length / 2)]!;
    expect(got).toHaveLength(40);
    expect(median).toBeGreaterThanOrEqual(49);
    expect(median).toBeLessThan(60);
    await proxy.close();
  });

  it("rejects impossible settings", async () => {
    await expect(startUdpProxy({ host: "127.0.0.1", port: 9 }, { lossPct: 120 })).rejects.toThrow(/0–100/);
    await expect(startTcpProxy({ host: "127.0.0.1", port: 9 }, { lossPct: 5 }, { opaque: true })).rejects.toThrow(/TLS/);
  });
});

describe("TCP impairment proxy", () => {
  it("drops whole media frames and keeps the stream parseable", async () => {
    const received: Buffer[] = [];
    const server = net.createServer((s) => s.on("data", (d) => received.push(d)));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    let n = 0;
    const proxy = await startTcpProxy(
      { host: "127.0.0.1", port: (server.address() as net.AddressInfo).port },
      { lossPct: 50, random: () => (n++ % 2 ? 0.9 : 0.1) },
    );
    const client = net.connect(proxy.port, "127.0.0.1");
    await new Promise((r) => client.once("connect", r));
    const frames = Array.from({ length: 100 }, (_, i) => (i % 10 === 0 ? sendIndication(dtls) : channelData(rtp)));
    const bytes = Buffer.concat(frames);
    // Odd chunk sizes: frames cross chunk boundaries.
    for (let off = 0; off < bytes.length; off += 37) client.write(bytes.subarray(off, off + 37));
    await new Promise((r) => setTimeout(r, 300));
    const out = splitTurnFrames(Buffer.concat(received));
    expect(out.rest.length).toBe(0);
    expect(out.frames.filter((f) => !carriesMedia(f))).toHaveLength(10);
    expect(out.frames.filter((f) => carriesMedia(f))).toHaveLength(45);
    client.destroy();
    await proxy.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
});
