import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { hasChromium, phonePage, screenshot, waitForRemoteVideo, webClientBed } from "./support/browser.ts";

const missing = [!hasChromium && "Chromium (/usr/bin/chromium)", !coturnInstalled() && "coturn (turnserver)"].filter(Boolean);
if (missing.length) console.warn(`[skipped] web client e2e: ${missing.join(" and ")} not installed`);

/**
 * Two people on the bundled web client in real Chromium. "Hide my IP" makes the call relay-only
 * through the local coturn, which keeps all media on loopback (host candidates would use the
 * machine's LAN address).
 */
describe.skipIf(missing.length > 0)("web client: two browser users", () => {
  const bed = webClientBed();

  async function enter(page: Page, nickname: string, interests: string, hideIp: boolean): Promise<void> {
    await page.goto(bed.dev.url);
    await page.getByLabel("Nickname").fill(nickname);
    await page.getByLabel(/Interests/).fill(interests);
    await page.getByLabel("I am 18 or older").check();
    if (hideIp) await page.getByLabel(/Hide my IP/).check();
    // The camera preview is up before Start is offered.
    await expect.poll(() => page.getByLabel("Your camera").evaluate((v) => (v as HTMLVideoElement).videoWidth)).toBeGreaterThan(0);
  }

  it("matches them, plays video both ways, chats, Next sends both back to waiting, a closed tab is told", async () => {
    const a = await phonePage(bed.browser);
    const b = await phonePage(bed.browser);
    const alice = a.page;
    const bob = b.page;

    await enter(alice, "Alice", "chess, Music", true);
    await screenshot(alice, "01-home");
    await alice.getByRole("button", { name: "Start", exact: true }).click();
    await expect.poll(() => alice.getByText("Looking for someone to talk to").isVisible()).toBe(true);
    await expect.poll(() => alice.getByText(/Waiting 0:0[1-9]/).isVisible(), { timeout: 5000 }).toBe(true);
    await screenshot(alice, "02-waiting");

    await enter(bob, "Bob", "music, films", false);
    await bob.getByRole("button", { name: "Start", exact: true }).click();

    // Matched: each sees the other's nickname and what they share.
    await expect.poll(() => alice.getByText("Talking with Bob").isVisible(), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => bob.getByText("Talking with Alice").isVisible()).toBe(true);
    await expect.poll(() => alice.getByText("You both like music").isVisible()).toBe(true);

    // Each one's remote video plays the other's fake camera, and keeps decoding frames.
    const [va, vb] = await Promise.all([waitForRemoteVideo(alice), waitForRemoteVideo(bob)]);
    expect(va.last.videoWidth).toBeGreaterThan(0);
    expect(vb.last.videoWidth).toBeGreaterThan(0);
    expect(va.last.frames).toBeGreaterThan(va.first.frames);
    expect(vb.last.frames).toBeGreaterThan(vb.first.frames);

    // Alice asked to hide her IP, so the whole call is relayed, and both are told.
    await expect.poll(() => alice.getByTestId("route").textContent(), { timeout: 5000 }).toMatch(/relayed via TURN/);
    await expect.poll(() => bob.getByTestId("route").textContent(), { timeout: 5000 }).toMatch(/relayed via TURN/);
    // Phone-sized: nothing wider than the 390 px screen, all call controls on screen.
    expect(await alice.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    for (const name of ["Next", "Stop", "Report", "Block"]) {
      const box = await alice.getByRole("button", { name, exact: true }).boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844, `${name} on screen`).toBe(true);
    }
    await screenshot(alice, "03-call-alice");
    await screenshot(bob, "03-call-bob");

    // Mute and camera toggles switch Alice's own tracks off and on again.
    const tracksOn = () =>
      alice.getByLabel("Your video").evaluate((v) => {
        const s = (v as HTMLVideoElement).srcObject as MediaStream;
        return [s.getAudioTracks()[0]?.enabled, s.getVideoTracks()[0]?.enabled];
      });
    await alice.getByRole("button", { name: "Mute", exact: true }).click();
    await alice.getByRole("button", { name: "Camera off", exact: true }).click();
    expect(await tracksOn()).toEqual([false, false]);
    expect(await alice.getByRole("button", { name: "Unmute", exact: true }).getAttribute("aria-pressed")).toBe("true");
    await alice.getByRole("button", { name: "Unmute", exact: true }).click();
    await alice.getByRole("button", { name: "Camera on", exact: true }).click();
    expect(await tracksOn()).toEqual([true, true]);

    // Chat both ways, with the typing indicator while Alice types.
    await alice.getByRole("textbox", { name: "Message", exact: true }).pressSequentially("hello from ", { delay: 20 });
    await expect.poll(() => bob.getByText("Alice is typing…").isVisible(), { timeout: 5000 }).toBe(true);
    await alice.getByRole("textbox", { name: "Message", exact: true }).pressSequentially("Alice");
    await alice.getByRole("textbox", { name: "Message", exact: true }).press("Enter");
    await expect.poll(() => bob.getByRole("list", { name: "Chat messages" }).textContent()).toContain("Alice: hello from Alice");
    await expect.poll(() => bob.getByText("Alice is typing…").isVisible()).toBe(false);
    await bob.getByRole("textbox", { name: "Message", exact: true }).fill("hi Alice, Bob here");
    await bob.getByRole("button", { name: "Send" }).click();
    await expect.poll(() => alice.getByRole("list", { name: "Chat messages" }).textContent()).toContain("Bob: hi Alice, Bob here");
    expect(await alice.getByRole("list", { name: "Chat messages" }).textContent()).toContain("You: hello from Alice");
    await screenshot(bob, "04-chat-bob");

    // Alice presses Next: she waits again, and Bob is sent back to waiting on his own.
    await alice.getByRole("button", { name: "Next", exact: true }).click();
    await expect.poll(() => alice.getByText("Looking for someone to talk to").isVisible()).toBe(true);
    await expect.poll(() => bob.getByText("Looking for someone to talk to").isVisible()).toBe(true);
    await expect.poll(() => bob.getByText("Alice moved on").isVisible()).toBe(true);
    await screenshot(bob, "05-after-next-bob");
    // They are kept apart for a while after Next, so both stay waiting.
    await bob.waitForTimeout(1000);
    expect(await alice.getByRole("button", { name: "Next", exact: true }).count()).toBe(0);
    expect(await bob.getByRole("button", { name: "Next", exact: true }).count()).toBe(0);

    // Bob reloads (a new guest), meets Alice again, then closes his tab: Alice is told.
    await bob.reload();
    await enter(bob, "Bob2", "music", false);
    await bob.getByRole("button", { name: "Start", exact: true }).click();
    await expect.poll(() => alice.getByText("Talking with Bob2").isVisible(), { timeout: 10_000 }).toBe(true);
    await waitForRemoteVideo(alice, { growBy: 5 });
    await bob.close();
    await expect.poll(() => alice.getByText("Bob2 disconnected").isVisible(), { timeout: 10_000 }).toBe(true);
    expect(await alice.getByRole("button", { name: "Start", exact: true }).isVisible()).toBe(true);
    await screenshot(alice, "06-peer-left-alice");

    await a.context.close();
    await b.context.close();
  }, 90_000);
});
