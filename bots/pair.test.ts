/**
 * Two werift bots through in-memory signaling and a real coturn (relay only): the call itself,
 * a wrong TURN secret, and the VP8 media path. The impairments' calibration is
 * `calibration.test.ts`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeIf } from "../tests/support/skip.ts";
import { coturnInstalled, startCoturn, type RunningCoturn } from "../turn/coturn-process.ts";
import { turnCredentials } from "../turn/credentials.ts";
import type { IceServer } from "../protocol/index.ts";
import { newRunId, Pacer } from "./media.ts";
import { runPair } from "./pair.ts";
import { BotPeer } from "./peer.ts";
import { loadVp8Clip } from "./vp8.ts";

const hasCoturn = coturnInstalled();

describeIf(hasCoturn, "turnserver (coturn) is not installed")("a bot pair relayed through a real coturn", () => {
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
      // 4 s: a bot sends its reports every 0.5-1.5 s, and a round trip needs the partner's report
      // after one of ours, so a few seconds of media.
      const { offerer, answerer, legs } = await runPair({ iceServers: servers, turnTransport: transport, durationMs: 4000 });
      // Whole-call accounting: every packet the partner sent arrived.
      for (const l of legs) expect([l.expectedFrom, l.packetsLost, l.duplicates]).toEqual(["partner", 0, 0]);
      for (const r of [offerer, answerer]) {
        expect(r.failure).toBeNull();
        expect(r.localCandidateType).toBe("relay");
        expect(r.remoteCandidateType).toBe("relay");
        expect(r.transport).toBe(transport);
        expect(r.mediaPath).toBe(transport === "udp" ? "bots" : "bots (after ICE)");
        // The bots' own RTCP: sender reports, report blocks and a round trip, both ways.
        expect(r.rtcpRttMs).not.toBeNull();
        // A clean relay: no SRTP or SRTCP packet failed authentication or came twice (DTLS
        // records, which arrive the same way, are not taken for SRTCP).
        expect(r.integrity).toEqual({ corrupt: 0, replayed: 0, corruptRtcp: 0, replayedRtcp: 0 });
        expect(r.audio.packetsReceived).toBeGreaterThan(80); // 50/s
        expect(r.video.framesReceived).toBeGreaterThan(45); // 30/s
        // No data channel (the web client opens none): no ping, so no echo RTT.
        expect(r.rttMs).toBeNull();
        expect(r.dtlsMs!).toBeGreaterThanOrEqual(r.iceMs!);
        expect(r.firstMediaMs).not.toBeNull();
      }
    }, 30_000);
  }

  it("names a wrong TURN secret as the reason a relay-only call failed", async () => {
    const wrong = turnCredentials("not-the-secret-of-this-server", "bot-wrong", 600);
    const started = Date.now();
    const { offerer, answerer } = await runPair({
      iceServers: [{ urls: turn.urls, username: wrong.username, credential: wrong.credential }],
      durationMs: 0,
      connectTimeoutMs: 10_000,
    });
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
      expect(r.mediaPath).toBe("werift"); // header extensions, NACK and PLI: werift's own path
      expect(r.video.framesReceived).toBeGreaterThan(45);
      expect(r.video.packetsReceived).toBe(r === offerer ? answerer.sent.video : offerer.sent.video);
      expect(r.video.oneWayDelayMs).not.toBeNull();
      expect(r.video.bytesReceived / r.video.packetsReceived).toBeGreaterThan(300); // real VP8 frames, not padding
    }
  }, 30_000);
});

describe("a bot pair on host candidates (no TURN)", () => {
  it("carries synthetic media on the bots' own RTP path, taken from the UDP socket", async () => {
    const { offerer, answerer, legs } = await runPair({ iceServers: [], iceTransportPolicy: "all", durationMs: 2000 });
    for (const l of legs) expect([l.expectedFrom, l.packetsLost, l.duplicates]).toEqual(["partner", 0, 0]);
    for (const r of [offerer, answerer]) {
      expect(r.failure).toBeNull();
      expect(r.localCandidateType).toBe("host");
      expect(r.mediaPath).toBe("bots");
      // Every SRTP and SRTCP packet authentic, none twice.
      expect(r.integrity).toEqual({ corrupt: 0, replayed: 0, corruptRtcp: 0, replayedRtcp: 0 });
      expect(r.audio.packetsReceived).toBeGreaterThan(70); // 50/s
      expect(r.video.framesReceived).toBeGreaterThan(40); // 30/s
    }
  }, 30_000);

  it("with a data channel, also measures the RTT by ping over it", async () => {
    const { offerer, answerer } = await runPair({ iceServers: [], iceTransportPolicy: "all", durationMs: 3000, dataChannel: true });
    for (const r of [offerer, answerer]) {
      expect(r.failure).toBeNull();
      // The echo of a ping sent a second after the channel opened (RTCP's round trip needs a few
      // seconds of reports: the relayed test above).
      expect(r.rttMs).not.toBeNull();
    }
  }, 30_000);

  it("hears the partner hang up by its RTCP BYE: the leg ends there and stops sending", async () => {
    const pacer = new Pacer();
    // One run id: a bot measures only packets of its own run.
    const common = { iceServers: [], iceTransportPolicy: "all" as const, media: "synthetic" as const, bitrateKbps: 300, pacer, runId: newRunId() };
    const a: BotPeer = new BotPeer({ ...common, role: "offerer", sendSignal: (s) => setImmediate(() => void b.onSignal(s)) });
    const b: BotPeer = new BotPeer({ ...common, role: "answerer", sendSignal: (s) => setImmediate(() => void a.onSignal(s)) });
    void a.start();
    expect(await Promise.all([a.settled, b.settled])).toEqual([true, true]);
    // Audio and video only: the offer has no data channel to say bye on.
    expect(a.pc.localDescription!.sdp).not.toMatch(/m=application/);
    await sleep(1500);
    const left = await a.close();
    // Without the BYE, b would go on sending (50 audio packets a second) and count this second as call time.
    await sleep(1000);
    const stayed = await b.close();
    expect(stayed.failure).toBeNull();
    expect(Math.abs(stayed.sent.audio - left.sent.audio)).toBeLessThan(10);
    expect(stayed.connectedSeconds).toBeLessThan(left.connectedSeconds + 0.2);
    expect(stayed.audio.packetsReceived).toBe(left.sent.audio);
  }, 30_000);
});
