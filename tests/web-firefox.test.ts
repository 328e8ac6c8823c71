import type { Browser as Firefox } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BotsReport } from "../bots/report.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { hasChromium, phonePage, waitForRemoteVideo, webClientBed } from "./support/browser.ts";
import { firefoxUser as ff, hasFirefox, launchFirefox } from "./support/firefox.ts";
import { vchatJson } from "./support/vchat-cli.ts";

const missing = [
  !hasFirefox && "firefox-esr (/usr/bin/firefox-esr)",
  !hasChromium && "Chromium (/usr/bin/chromium)",
  !coturnInstalled() && "coturn (turnserver)",
].filter(Boolean);
if (missing.length) console.warn(`[skipped] Firefox interop e2e: ${missing.join(", ")} not installed`);

/** Frames Firefox decoded grow by `growBy` within the time limit, with a real size. */
async function firefoxDecodes(page: import("puppeteer-core").Page, growBy = 10, timeoutMs = 20_000): Promise<{ first: number; last: number; width: number }> {
  const deadline = Date.now() + timeoutMs;
  let first: number | undefined;
  let last = { frames: 0, videoWidth: 0 };
  while (Date.now() < deadline) {
    last = await ff.remoteVideo(page);
    if (last.videoWidth > 0 && last.frames > 0) {
      first ??= last.frames;
      if (last.frames - first >= growBy) return { first, last: last.frames, width: last.videoWidth };
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`Firefox's remote video did not play: first ${first}, last ${JSON.stringify(last)}`);
}

/**
 * Debian's Firefox ESR on the bundled client, driven over WebDriver BiDi, against Chromium and
 * against a `vchat bots` VP8 peer. Every call is relay-only through the local coturn.
 */
describe.skipIf(missing.length > 0)("web client in Firefox", () => {
  const bed = webClientBed();
  let firefox: Firefox;

  beforeAll(async () => {
    firefox = await launchFirefox();
  }, 60_000);
  afterAll(async () => {
    await firefox?.close();
  });

  it("Firefox and Chromium call each other relay-only: video decoded both ways, chat both ways", async () => {
    const fiona = await firefox.newPage();
    const { page: carl, context } = await phonePage(bed.browser);
    try {
      await ff.enter(fiona, bed.dev.url, "Fiona");
      await ff.press(fiona, "Start");
      await ff.waitForText(fiona, "Looking for someone to talk to");

      await carl.goto(bed.dev.url);
      await carl.getByLabel("Nickname").fill("Carl");
      await carl.getByLabel("I am 18 or older").check();
      await carl.getByLabel(/Hide my IP/).check();
      await carl.getByRole("button", { name: "Start", exact: true }).click();

      await ff.waitForText(fiona, "Talking with Carl");
      await expect.poll(() => carl.getByText("Talking with Fiona").isVisible(), { timeout: 15_000 }).toBe(true);
      const [inFirefox, inChromium] = await Promise.all([firefoxDecodes(fiona), waitForRemoteVideo(carl, { timeoutMs: 20_000 })]);
      expect(inFirefox.width).toBeGreaterThan(0);
      expect(inChromium.last.frames).toBeGreaterThan(inChromium.first.frames);
      await ff.waitForText(fiona, "relayed via TURN");
      await expect.poll(() => carl.getByTestId("route").textContent(), { timeout: 5000 }).toMatch(/relayed via TURN/);

      await ff.say(fiona, "hello from Firefox");
      await expect.poll(() => carl.getByText("hello from Firefox").isVisible()).toBe(true);
      await carl.getByRole("textbox", { name: "Message", exact: true }).fill("hello from Chromium");
      await carl.getByRole("textbox", { name: "Message", exact: true }).press("Enter");
      await ff.waitForText(fiona, "hello from Chromium");
    } finally {
      await fiona.close();
      await context.close();
    }
  }, 90_000);

  it("Firefox and a relay-only VP8 bot: each receives the other's media", async () => {
    const fiona = await firefox.newPage();
    try {
      await ff.enter(fiona, bed.dev.url, "Fiona");
      await ff.press(fiona, "Start");
      await ff.waitForText(fiona, "Looking for someone to talk to");
      const bots = vchatJson<BotsReport>(["bots", "--url", bed.dev.url, "--peers", "1", "--media", "vp8", "--relay", "only", "--duration", "12s", "--workers", "0", "--allow-overload"], 80_000);
      await ff.waitForText(fiona, "Talking with bot-", 30_000);
      const video = await firefoxDecodes(fiona, 15);
      expect(video.width).toBeGreaterThan(0);
      await ff.waitForText(fiona, "relayed via TURN");

      const { code, out, stderr } = await bots;
      expect(out, stderr).not.toBeNull();
      const leg = out!.calls[0]!.legs[0]!;
      expect(code, `${stderr}\n${JSON.stringify(leg)}`).toBe(0);
      expect(leg.connected).toBe(true);
      expect(leg.localCandidateType).toBe("relay");
      // Packets without the bots' measuring fields: Firefox's own audio and video.
      expect(leg.foreignPackets).toBeGreaterThan(100);
    } finally {
      await fiona.close();
    }
  }, 100_000);
});
