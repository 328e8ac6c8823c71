import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { BotsReport } from "../bots/report.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { hasChromium, phonePage, screenshot, waitForRemoteVideo, webClientBed } from "./support/browser.ts";

const missing = [!hasChromium && "Chromium (/usr/bin/chromium)", !coturnInstalled() && "coturn (turnserver)"].filter(Boolean);
if (missing.length) console.warn(`[skipped] web client with a bot: ${missing.join(" and ")} not installed`);

const repo = fileURLToPath(new URL("..", import.meta.url));

/** Runs `vchat bots ... --json` as a user would and resolves to its exit code and JSON report. */
function runBotsCli(args: string[], timeoutMs: number): Promise<{ code: number | null; report: BotsReport | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["cli/vchat.ts", "bots", ...args], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      let report: BotsReport | null = null;
      try {
        report = JSON.parse(stdout) as BotsReport;
      } catch {
        // Reported by the assertions below, with stderr.
      }
      resolve({ code, report, stderr: stderr + (report ? "" : `\nstdout: ${stdout.slice(0, 2000)}`) });
    });
  });
}

/** Users waiting in the lobby, from the server's Prometheus metrics. */
async function queueLength(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^vchat_queue_length(?:\{[^}]*\})? (\d+)/m.exec(text);
  return m ? Number(m[1]) : -1;
}

/**
 * A browser user and one `vchat bots --peers 1 --media vp8 --relay only` bot, through the local
 * coturn: the browser decodes the bot's real VP8 video, shows the call as relayed, and the
 * bot's report counts the browser's media.
 */
describe.skipIf(missing.length > 0)("web client with a vchat bot", () => {
  const bed = webClientBed();

  // Chromium and the bot share a loaded host: these runs check the interop and pass
  // --allow-overload; bots/calibration.test.ts checks the host's verdict.
  it("matches the browser with a relay-only VP8 bot; both receive the other's media", async () => {
    const bots = runBotsCli(["--url", bed.dev.url, "--peers", "1", "--media", "vp8", "--relay", "only", "--duration", "20s", "--workers", "0", "--allow-overload", "--json"], 100_000);

    const { page } = await phonePage(bed.browser);
    await page.goto(bed.dev.url);
    await page.getByLabel("Nickname").fill("Erin");
    await page.getByLabel("I am 18 or older").check();
    // The bot waits in the lobby first, so it is the offerer (the one who waited longer offers).
    const t0 = Date.now();
    await expect.poll(() => queueLength(bed.dev.url), { timeout: 45_000, interval: 200 }).toBe(1);
    console.log(`bot waiting in the lobby after ${Date.now() - t0} ms`);
    await page.getByRole("button", { name: "Start", exact: true }).click();
    await expect.poll(() => page.getByText(/Talking with bot-/).isVisible(), { timeout: 15_000 }).toBe(true);

    // The bot's test pattern is decoded by Chromium: real size, frame count growing.
    const video = await waitForRemoteVideo(page, { growBy: 15, timeoutMs: 10_000 });
    expect(video.last.videoWidth).toBeGreaterThan(0);
    expect(video.last.frames - video.first.frames).toBeGreaterThanOrEqual(15);
    // The bot asked for relay-only, so the server made the whole call relayed.
    await expect.poll(() => page.getByTestId("route").textContent(), { timeout: 5000 }).toMatch(/relayed via TURN/);
    await screenshot(page, "20-call-with-bot");

    // The run ends after its duration: the browser is told its partner left.
    const { code, report, stderr } = await bots;
    expect(report, stderr).not.toBeNull();
    await expect.poll(() => page.getByText(/bot-\S* (left the chat|disconnected)/).isVisible(), { timeout: 10_000 }).toBe(true);
    await screenshot(page, "21-bot-left");

    expect(code, `${stderr}\n${JSON.stringify(report?.calls[0]?.legs[0])}`).toBe(0);
    expect(report!.summary.connected).toBe(1);
    const leg = report!.calls[0]!.legs[0]!;
    expect(leg.connected).toBe(true);
    expect(leg.localCandidateType).toBe("relay");
    // Packets without the bots' measuring fields: the browser's own audio and video.
    expect(leg.foreignPackets).toBeGreaterThan(100);
  }, 120_000);

  it("the other way round: the browser waits and offers, the bot answers without the extension the browser did not offer", async () => {
    const { page } = await phonePage(bed.browser);
    await page.goto(bed.dev.url);
    await page.getByLabel("Nickname").fill("Finn");
    await page.getByLabel("I am 18 or older").check();
    await page.getByRole("button", { name: "Start", exact: true }).click();
    await expect.poll(() => queueLength(bed.dev.url), { timeout: 15_000, interval: 200 }).toBe(1);

    const bots = runBotsCli(["--url", bed.dev.url, "--peers", "1", "--media", "vp8", "--relay", "only", "--duration", "12s", "--workers", "0", "--allow-overload", "--json"], 60_000);
    await expect.poll(() => page.getByText(/Talking with bot-/).isVisible(), { timeout: 30_000 }).toBe(true);
    const video = await waitForRemoteVideo(page, { growBy: 15, timeoutMs: 15_000 });
    expect(video.last.videoWidth).toBeGreaterThan(0);
    await screenshot(page, "22-browser-offered-bot-answered");

    const { code, report, stderr } = await bots;
    expect(code, stderr).toBe(0);
    expect(report!.calls[0]!.legs[0]!.connected).toBe(true);
    expect(report!.calls[0]!.legs[0]!.foreignPackets).toBeGreaterThan(100);
  }, 90_000);
});
