/**
 * Two werift bots through in-memory signaling and a real coturn (relay only): the call itself,
 * the calibration of the impairment proxy, a wrong TURN secret, and the VP8 media path.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { coturnInstalled, startCoturn, type RunningCoturn } from "../turn/coturn-process.ts";
import { turnCredentials } from "../turn/credentials.ts";
import type { IceServer } from "../protocol/index.ts";
import { rewriteTurnUrls, turnEndpoints } from "./ice.ts";
import { startImpairment, type Impairment } from "./impair.ts";
import { Pacer } from "./media.ts";
import { runPair, type PairOptions } from "./pair.ts";
import type { PeerResult } from "./peer.ts";
import { loadVp8Clip } from "./vp8.ts";

const hasCoturn = coturnInstalled();
if (!hasCoturn) console.warn("bots/pair.test.ts skipped: turnserver (coturn) is not installed");

const loss = (r: PeerResult) => ({ lost: r.audio.packetsLost + r.video.packetsLost, expected: r.audio.packetsExpected + r.video.packetsExpected });

describe.skipIf(!hasCoturn)("a bot pair relayed through a real coturn", () => {
  let turn: RunningCoturn;
  let servers: IceServer[];
  beforeAll(async () => {
    turn = await startCoturn({ mode: "local" });
    const c = turnCredentials(turn.secret, "bot", 600);
    servers = [{ urls: turn.urls, username: c.username, credential: c.credential }];
  });
  afterAll(async () => {
    await turn?.stop();
  });

  for (const transport of ["udp", "tcp"] as const) {
    it(`connects relay-only over TURN/${transport} and measures clean media`, async () => {
      const { offerer, answerer } = await runPair({ iceServers: servers, turnTransport: transport, durationMs: 2500 });
      for (const r of [offerer, answerer]) {
        expect(r.failure).toBeNull();
        expect(r.localCandidateType).toBe("relay");
        expect(r.remoteCandidateType).toBe("relay");
        expect(r.transport).toBe(transport);
        expect(loss(r).lost).toBe(0);
        expect(r.audio.packetsReceived).toBeGreaterThan(80); // 50/s
        expect(r.video.framesReceived).toBeGreaterThan(45); // 30/s
        expect(r.rttMs).not.toBeNull();
        expect(r.dtlsMs!).toBeGreaterThanOrEqual(r.iceMs!);
        expect(r.firstMediaMs).not.toBeNull();
      }
    }, 30_000);
  }

  async function impairedPairs(imp: Impairment, pairs: number, opts: Partial<PairOptions>) {
    const im = await startImpairment(turnEndpoints(servers), imp);
    try {
      const pacer = new Pacer();
      const results = await Promise.all(
        Array.from({ length: pairs }, () => runPair({ iceServers: rewriteTurnUrls(servers, im.rewrites), durationMs: 5000, pacer, ...opts })),
      );
      return { legs: results.flatMap((r) => [r.offerer, r.answerer]), proxies: im.proxies };
    } finally {
      await im.close();
    }
  }

  it("calibration: what the proxy drops is what the bots measure as lost", async () => {
    // In one thread with the proxy, so kept light; the strict 4–6 % check runs through the CLI
    // (tests/bots.test.ts), where bots and proxy have threads of their own and more packets.
    const { legs, proxies } = await impairedPairs({ lossPct: 5 }, 3, { durationMs: 8000 });
    for (const l of legs) expect(l.failure).toBeNull();
    const lost = legs.reduce((a, l) => a + loss(l).lost, 0);
    const expected = legs.reduce((a, l) => a + loss(l).expected, 0);
    const dropped = proxies[0]!.counters.uplinkDropped;
    const pct = (100 * lost) / expected;
    console.log(`calibration: impair 5 % → measured ${pct.toFixed(2)} % (${lost} of ${expected} packets; proxy dropped ${dropped} media packets incl. RTCP)`);
    expect(expected).toBeGreaterThan(3000);
    expect(pct).toBeGreaterThanOrEqual(3.5);
    expect(pct).toBeLessThanOrEqual(6.5);
    // Dropped SRTCP is not RTP loss, so the proxy's count is a little higher than the bots'.
    expect(lost).toBeLessThanOrEqual(dropped);
    expect(lost).toBeGreaterThanOrEqual(dropped * 0.9);
  }, 40_000);

  it("names a wrong TURN secret as the reason a relay-only call failed", async () => {
    const wrong = turnCredentials("not-the-secret-of-this-server", "bot-wrong", 600);
    const started = Date.now();
    const { offerer, answerer } = await runPair({ iceServers: [{ urls: turn.urls, username: wrong.username, credential: wrong.credential }], durationMs: 0, connectTimeoutMs: 10_000 });
    // Named by asking the server, well before the connect timeout.
    expect(Date.now() - started).toBeLessThan(8000);
    for (const r of [offerer, answerer]) {
      expect(r.connected).toBe(false);
      expect(r.failure).toMatch(/no relay candidate: TURN .* 401 Unauthorized: TURN credentials rejected/);
    }
  }, 30_000);

  it("sends the VP8 test pattern with seq and send time in a header extension", async () => {
    const clip = loadVp8Clip();
    const { offerer, answerer } = await runPair({ iceServers: servers, media: "vp8", durationMs: 2500, vp8Frames: () => clip.player() });
    for (const r of [offerer, answerer]) {
      expect(r.failure).toBeNull();
      expect(r.foreignPackets).toBe(0); // every packet carried our extension
      expect(r.video.framesReceived).toBeGreaterThan(45);
      expect(r.video.packetsLost).toBe(0);
      expect(r.video.oneWayDelayMs).not.toBeNull();
      expect(r.video.bytesReceived / r.video.packetsReceived).toBeGreaterThan(300); // real VP8 frames, not padding
    }
  }, 30_000);
});
