import { existsSync } from "node:fs";
import type { Browser, Page } from "puppeteer-core";

/** Debian's firefox-esr; the Firefox tests skip (and say so) when it is missing. */
export const firefoxPath = process.env.VCHAT_FIREFOX ?? "/usr/bin/firefox-esr";
export const hasFirefox = existsSync(firefoxPath);

/**
 * A stock Firefox driven over WebDriver BiDi (Playwright only drives its own patched build), with
 * a fake camera and microphone that it grants without asking.
 */
export async function launchFirefox(): Promise<Browser> {
  const { launch } = await import("puppeteer-core");
  return launch({
    browser: "firefox",
    executablePath: firefoxPath,
    headless: true,
    timeout: 30_000,
    extraPrefsFirefox: {
      "media.navigator.streams.fake": true,
      "media.navigator.permission.disabled": true,
      "media.autoplay.default": 0,
      // Firefox leaves the loopback interface out of ICE unless told; every test address is on it.
      "media.peerconnection.ice.loopback": true,
    },
  });
}

/**
 * The same steps a person takes on the start screen, by what the page shows (labels and button
 * text), for a page Playwright's locators cannot drive.
 */
export const firefoxUser = {
  async enter(page: Page, url: string, nickname: string): Promise<void> {
    await page.goto(url);
    await page.waitForFunction(() => ((document.querySelector('video[aria-label="Your camera"]') as HTMLVideoElement | null)?.videoWidth ?? 0) > 0, { timeout: 15_000 });
    await page.type('input[autocomplete="nickname"]', nickname);
    await page.evaluate(() => {
      for (const label of document.querySelectorAll("label")) {
        if (/I am 18 or older|Hide my IP/.test(label.textContent ?? "")) label.querySelector("input")!.click();
      }
    });
  },
  async press(page: Page, name: string): Promise<void> {
    await page.waitForFunction((n) => [...document.querySelectorAll("button")].some((b) => b.textContent?.trim() === n && !b.disabled), { timeout: 10_000 }, name);
    await page.evaluate((n) => [...document.querySelectorAll("button")].find((b) => b.textContent?.trim() === n)!.click(), name);
  },
  async waitForText(page: Page, text: string, timeout = 15_000): Promise<void> {
    await page.waitForFunction((t) => document.body.innerText.includes(t), { timeout }, text);
  },
  /**
   * Frames of the element labelled "Remote video" painted so far, and its size. Firefox leaves
   * `getVideoPlaybackQuality().totalVideoFrames` at 0 for a MediaStream; its own
   * `mozPaintedFrames` counts them.
   */
  remoteVideo(page: Page): Promise<{ frames: number; videoWidth: number }> {
    return page.evaluate(() => {
      const v = document.querySelector('video[aria-label="Remote video"]') as (HTMLVideoElement & { mozPaintedFrames?: number }) | null;
      return { frames: Math.max(v?.mozPaintedFrames ?? 0, v?.getVideoPlaybackQuality().totalVideoFrames ?? 0), videoWidth: v?.videoWidth ?? 0 };
    });
  },
  async say(page: Page, text: string): Promise<void> {
    await page.type('[aria-label="Message"]', text);
    await page.keyboard.press("Enter");
  },
};
