import { describe, expect, it } from "vitest";
import type { Page } from "playwright-core";
import type { AuthResponse } from "../protocol/index.ts";
import { paths } from "../protocol/rest.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { hasChromium, phonePage, screenshot, webClientBed } from "./support/browser.ts";
import { request, socketFor, type ClientSocket } from "./support/client.ts";

const missing = [!hasChromium && "Chromium (/usr/bin/chromium)", !coturnInstalled() && "coturn (turnserver)"].filter(Boolean);
if (missing.length) console.warn(`[skipped] web client abuse e2e: ${missing.join(" and ")} not installed`);

/**
 * What the bundled client shows when the server takes its place in the queue or closes its
 * connection: another socket of the same user (as a second tab or device would) joins, then opens
 * more sockets than allowed. The browser's token is read from its sign-in response.
 */
describe.skipIf(missing.length > 0)("web client: replaced in the queue, closed for too many tabs, chat refused", () => {
  const bed = webClientBed();
  const visible = (page: Page, text: string | RegExp) => () => page.getByText(text).first().isVisible();

  /** Signs in from the page and presses Start; resolves to the page's token once it waits (or is matched at once). */
  async function start(page: Page, nickname: string, expectWait = true): Promise<string> {
    const signIn = page.waitForResponse((r) => r.url().endsWith(paths.guest));
    await page.goto(bed.dev.url);
    await page.getByLabel("Nickname").fill(nickname);
    await page.getByLabel("I am 18 or older").check();
    await page.getByLabel(/Hide my IP/).check();
    await page.getByRole("button", { name: "Start", exact: true }).click();
    const { token } = (await (await signIn).json()) as AuthResponse;
    if (expectWait) await expect.poll(visible(page, "Looking for someone to talk to"), { timeout: 10_000 }).toBe(true);
    return token;
  }

  const connected = async (token: string): Promise<ClientSocket> => {
    const socket = socketFor(bed.dev.url, token);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    return socket;
  };

  it("a nickname with an invisible character is refused on the page, before any request", async () => {
    const { page, context } = await phonePage(bed.browser);
    try {
      const signIns: string[] = [];
      page.on("request", (r) => r.url().endsWith(paths.guest) && signIns.push(r.url()));
      await page.goto(bed.dev.url);
      await page.getByLabel("Nickname").fill("ad\u200bmin");
      await page.getByLabel("I am 18 or older").check();
      await page.getByRole("button", { name: "Start", exact: true }).click();
      await expect.poll(visible(page, "That nickname must not contain invisible characters."), { timeout: 5000 }).toBe(true);
      expect(signIns).toEqual([]);
      expect(await page.getByRole("button", { name: "Start", exact: true }).isVisible()).toBe(true);
    } finally {
      await context.close();
    }
  }, 30_000);

  it("a waiting tab whose place another tab took says so and offers Start again", async () => {
    const { page, context } = await phonePage(bed.browser);
    const sockets: ClientSocket[] = [];
    try {
      const token = await start(page, "Erin");
      sockets.push(await connected(token));
      expect(await request(sockets[0]!, "lobby:join", {})).toMatchObject({ ok: true });
      await expect.poll(visible(page, /another tab or window, so this one stopped/), { timeout: 5000 }).toBe(true);
      expect(await page.getByRole("button", { name: "Start", exact: true }).isVisible()).toBe(true);
      await screenshot(page, "30-replaced");

      // Two more sockets of the same user make four: the page's is the oldest, and is closed.
      for (let i = 0; i < 2; i++) sockets.push(await connected(token));
      await expect.poll(visible(page, /open in more than 3 tabs or devices/), { timeout: 5000 }).toBe(true);
      await screenshot(page, "31-too-many-tabs");
      // Start connects again (closing the oldest of the others).
      await page.getByRole("button", { name: "Start", exact: true }).click();
      await expect.poll(visible(page, "Looking for someone to talk to"), { timeout: 10_000 }).toBe(true);
      sockets.forEach((s) => s.disconnect());

      // In a call, a message with a direction override is refused before it leaves the page.
      const other = await phonePage(bed.browser);
      try {
        await start(other.page, "Frank", false);
        await expect.poll(visible(page, "Talking with Frank"), { timeout: 10_000 }).toBe(true);
        await page.getByRole("textbox", { name: "Message", exact: true }).fill("see abc\u202Efdp.exe");
        await page.getByRole("button", { name: "Send" }).click();
        await expect.poll(visible(page, /Message not sent: it must not contain text direction overrides/), { timeout: 5000 }).toBe(true);
        await page.getByRole("textbox", { name: "Message", exact: true }).fill("plain hello");
        await page.getByRole("button", { name: "Send" }).click();
        await expect.poll(visible(other.page, "plain hello"), { timeout: 5000 }).toBe(true);
        expect(await other.page.getByText(/fdp\.exe|exe\.pdf/).count()).toBe(0);
      } finally {
        await other.context.close();
      }
    } finally {
      sockets.forEach((s) => s.disconnect());
      await context.close();
    }
  }, 60_000);
});
