/**
 * A browser partner sees the bot's video: headless Chromium answers a werift bot sending the
 * VP8 test pattern, relay-only through a real coturn, and decodes its frames. Signaling hops
 * through playwright, as it would through the server.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Candidate, Description } from "../protocol/index.ts";
import { Pacer } from "../bots/media.ts";
import { BotPeer } from "../bots/peer.ts";
import { loadVp8Clip } from "../bots/vp8.ts";
import { coturnInstalled, startCoturn, type RunningCoturn } from "../turn/coturn-process.ts";
import { turnCredentials } from "../turn/credentials.ts";
import { hasChromium, launchChromium } from "./support/browser.ts";

const ready = hasChromium && coturnInstalled();
if (!ready) console.warn(`tests/bots-browser.test.ts skipped: needs ${hasChromium ? "" : "/usr/bin/chromium "}${coturnInstalled() ? "" : "coturn"}`);

const page = `<!doctype html><meta charset="utf-8"><video id="v" autoplay muted playsinline></video><script>
let pc;
window.answer = async (iceServers, offer) => {
  pc = new RTCPeerConnection({ iceServers, iceTransportPolicy: "relay" });
  pc.onicecandidate = (e) => window.toBot({ candidate: e.candidate ? e.candidate.toJSON() : null });
  pc.ontrack = (e) => { if (e.track.kind === "video") document.getElementById("v").srcObject = new MediaStream([e.track]); };
  await pc.setRemoteDescription(offer);
  await pc.setLocalDescription(await pc.createAnswer());
  return { type: "answer", sdp: pc.localDescription.sdp };
};
window.candidate = (c) => pc && c && pc.addIceCandidate(c);
window.video = async () => {
  let out = null;
  (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") out = { framesDecoded: s.framesDecoded || 0, width: s.frameWidth, codec: s.codecId, pli: s.pliCount || 0, keyFrames: s.keyFramesDecoded || 0 }; });
  const v = document.getElementById("v");
  return { ...out, videoWidth: v.videoWidth, state: pc.connectionState };
};
</script>`;

describe.skipIf(!ready)("a browser matched with a bot", () => {
  let turn: RunningCoturn;
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    turn = await startCoturn({ mode: "local" });
    server = http.createServer((_, res) => res.writeHead(200, { "content-type": "text/html" }).end(page));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server?.close();
    await turn?.stop();
  });

  it("decodes the VP8 test pattern the bot sends", async () => {
    const creds = turnCredentials(turn.secret, "browser-test", 600);
    const iceServers = [{ urls: turn.urls, username: creds.username, credential: creds.credential }];
    const browser = await launchChromium();
    const clip = loadVp8Clip();
    let bot: BotPeer | null = null;
    try {
      const tab = await browser.newPage();
      const pending: Array<{ candidate: Candidate }> = [];
      await tab.exposeFunction("toBot", (s: { candidate: Candidate }) => (bot ? void bot.onSignal(s) : pending.push(s)));
      await tab.goto(`http://localhost:${port}/`);
      let offer: Description | null = null;
      const offered = new Promise<void>((resolve) => {
        bot = new BotPeer({
          role: "offerer",
          iceServers,
          iceTransportPolicy: "relay",
          media: "vp8",
          bitrateKbps: 300,
          pacer: new Pacer(),
          vp8Frames: () => clip.player(),
          sendSignal: (s) => {
            if (s.description) {
              offer = s.description;
              resolve();
            } else if (s.candidate) void tab.evaluate((c) => (window as unknown as { candidate(c: unknown): void }).candidate(c), s.candidate);
          },
        });
      });
      await bot!.start();
      await offered;
      const answer = await tab.evaluate(([servers, o]) => (window as unknown as { answer(s: unknown, o: unknown): Promise<Description> }).answer(servers, o), [iceServers, offer] as const);
      await bot!.onSignal({ description: answer });
      for (const s of pending) await bot!.onSignal(s);
      expect(await bot!.settled).toBe(true);
      // Let the browser decode a couple of seconds of video.
      let video: { framesDecoded: number; width: number; videoWidth: number; keyFrames: number; state: string } = { framesDecoded: 0, width: 0, videoWidth: 0, keyFrames: 0, state: "" };
      for (let i = 0; i < 20 && video.framesDecoded < 45; i++) {
        await new Promise((r) => setTimeout(r, 250));
        video = await tab.evaluate(() => (window as unknown as { video(): Promise<typeof video> }).video());
      }
      console.log("browser decoded:", video);
      expect(video.state).toBe("connected");
      expect(video.framesDecoded).toBeGreaterThanOrEqual(45);
      expect(video.width).toBe(320);
      expect(video.videoWidth).toBe(320);
      expect(video.keyFrames).toBeGreaterThanOrEqual(1);
    } finally {
      await (bot as BotPeer | null)?.close();
      await browser.close();
    }
  }, 60_000);
});
