import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { startDevServer, type DevServer } from "../../server/dev.ts";

/** Debian's Chromium; the browser tests skip (and say so) when it is missing. */
export const chromiumPath = process.env.VCHAT_CHROMIUM ?? "/usr/bin/chromium";
export const hasChromium = existsSync(chromiumPath);

const repo = fileURLToPath(new URL("../..", import.meta.url));
export const artifactsDir = join(repo, "test-artifacts", "web");

/** Flags verified in FIELD-NOTES.md: headless, no sandbox (containers), no network chatter. */
const baseArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  "--use-fake-device-for-media-stream",
];

/**
 * Launches Chromium with a fake camera and microphone (test pattern and beep).
 * `camera: "allow"` grants the permission prompt automatically; `"deny"` leaves the prompt
 * unanswered, which headless Chromium turns into a NotAllowedError like a user saying no;
 * `"absent"` grants it but offers no devices at all (NotFoundError). `executablePath` replaces
 * Chromium by a wrapper (the NAT lab's `ip netns exec`).
 */
export async function launchChromium(camera: "allow" | "deny" | "absent" = "allow", opts: { executablePath?: string; extraArgs?: string[] } = {}): Promise<Browser> {
  const args =
    camera === "allow"
      ? [...baseArgs, "--use-fake-ui-for-media-stream"]
      : camera === "deny"
        ? baseArgs
        : // Permission granted but no fake devices: this machine has no camera or microphone.
          [...baseArgs.filter((a) => a !== "--use-fake-device-for-media-stream"), "--use-fake-ui-for-media-stream"];
  return chromium.launch({ executablePath: opts.executablePath ?? chromiumPath, headless: true, args: [...args, ...(opts.extraArgs ?? [])], timeout: 20_000 });
}

/** A phone-sized page (the layout the client is designed for first). */
export async function phonePage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  return { context, page };
}

let built: Promise<string> | undefined;

/**
 * Builds the web client once per test file into a temporary folder (so parallel test files and
 * a developer's `web/dist` never step on each other). Pass the result as `webDir`.
 */
export function buildWebOnce(): Promise<string> {
  built ??= (async () => {
    const { build } = await import("vite");
    const outDir = mkdtempSync(join(tmpdir(), "vchat-web-"));
    // Vitest sets NODE_ENV=test, which would bundle React's development build.
    const nodeEnv = process.env.NODE_ENV;
    process.env.NODE_ENV = "production";
    try {
      await build({
        configFile: join(repo, "web", "vite.config.ts"),
        mode: "production",
        logLevel: "warn",
        build: { outDir, emptyOutDir: true, sourcemap: false },
      });
    } finally {
      process.env.NODE_ENV = nodeEnv;
    }
    if (!existsSync(join(outDir, "index.html"))) throw new Error(`vite build wrote no index.html to ${outDir}`);
    return outDir;
  })();
  return built;
}

export function removeBuild(dir: string | undefined): void {
  if (dir?.startsWith(tmpdir())) rmSync(dir, { recursive: true, force: true });
}

/**
 * Saves a full-page screenshot under test-artifacts/web/ and checks it is a real, non-empty PNG.
 * Returns its size in bytes.
 */
export async function screenshot(page: Page, name: string): Promise<number> {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  const png = readFileSync(path);
  const signature = png.subarray(0, 8).toString("hex");
  if (signature !== "89504e470d0a1a0a") throw new Error(`${path} is not a PNG`);
  // IHDR: width and height at bytes 16..24.
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  if (width === 0 || height === 0 || png.length < 1000) throw new Error(`${path} is empty (${width}x${height}, ${png.length} bytes)`);
  return png.length;
}

export interface RemoteVideo {
  videoWidth: number;
  videoHeight: number;
  /** Frames the element has decoded so far (`getVideoPlaybackQuality().totalVideoFrames`). */
  frames: number;
  playing: boolean;
}

/** What the page's element labelled "Remote video" shows, as the page itself sees it. */
export async function remoteVideo(page: Page): Promise<RemoteVideo> {
  return page.getByLabel("Remote video").evaluate((el) => {
    const v = el as HTMLVideoElement;
    return {
      videoWidth: v.videoWidth,
      videoHeight: v.videoHeight,
      frames: v.getVideoPlaybackQuality().totalVideoFrames,
      playing: !v.paused && v.readyState >= 2,
    };
  });
}

/**
 * Waits until the remote video plays with a real size and its decoded frame count grows by
 * `growBy` within the time limit; returns the first and last readings.
 */
export async function waitForRemoteVideo(page: Page, { growBy = 10, timeoutMs = 15_000 } = {}): Promise<{ first: RemoteVideo; last: RemoteVideo }> {
  const deadline = Date.now() + timeoutMs;
  let first: RemoteVideo | undefined;
  let last: RemoteVideo | undefined;
  while (Date.now() < deadline) {
    last = await remoteVideo(page);
    if (last.videoWidth > 0 && last.frames > 0) {
      first ??= last;
      if (last.frames - first.frames >= growBy) return { first, last };
    }
    await page.waitForTimeout(200);
  }
  throw new Error(`remote video did not play: first ${JSON.stringify(first)}, last ${JSON.stringify(last)}`);
}

/**
 * For the describe block it is called in: `vchat dev` with the local coturn serving the built
 * web client, and a Chromium that allows the camera. Read the fields inside tests.
 */
export function webClientBed(): { dev: DevServer; browser: Browser } {
  const bed = {} as { dev: DevServer; browser: Browser; webDir?: string };
  beforeAll(async () => {
    bed.webDir = await buildWebOnce();
    bed.dev = await startDevServer({ port: 0, db: ":memory:", turn: true, quiet: true, webDir: bed.webDir });
    bed.browser = await launchChromium("allow");
  }, 60_000);
  afterAll(async () => {
    await bed.browser?.close();
    await bed.dev?.stop();
    removeBuild(bed.webDir);
  });
  return bed;
}
