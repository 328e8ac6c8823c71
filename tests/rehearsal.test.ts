/**
 * The production shape on one machine (`vchat dev --prod-shape`): a real haproxy in front with
 * CloudFront's path routing (`protocol/routes.ts`), round robin and no stickiness, two nodes on a
 * real Redis, coturn from the production generator, and the web client served as the bucket
 * serves it. Browsers, `vchat doctor --url` and `vchat bots --url` use only the proxy's URL.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BotsReport } from "../bots/report.ts";
import type { DoctorReport } from "../doctor/report.ts";
import { redisInstalled } from "../server/cluster/redis-process.ts";
import { haproxyBin, startRehearsal, type Rehearsal } from "../server/rehearsal.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { buildWebOnce, hasChromium, launchChromium, phonePage, removeBuild, screenshot, waitForRemoteVideo } from "./support/browser.ts";
import { next, pair, request, user, type TestUser } from "./support/client.ts";
import { firefoxUser as ff, hasFirefox, launchFirefox } from "./support/firefox.ts";
import { vchatJson } from "./support/vchat-cli.ts";

const missing = [
  !existsSync(haproxyBin) && `haproxy (${haproxyBin})`,
  !redisInstalled() && "redis-server",
  !coturnInstalled() && "coturn (turnserver)",
  !hasChromium && "Chromium (/usr/bin/chromium)",
].filter(Boolean);
if (missing.length) console.warn(`[skipped] production-shaped rehearsal: ${missing.join(", ")} not installed`);
else if (!hasFirefox) console.warn("[skipped] rehearsal with Firefox: firefox-esr (/usr/bin/firefox-esr) not installed");

describe.skipIf(missing.length > 0)("rehearsal: haproxy routing as CloudFront, two nodes on Redis, coturn, the bucket", () => {
  let webDir: string | undefined;
  let shape: Rehearsal;
  let url: string;
  let browser: Browser;
  const users: TestUser[] = [];

  beforeAll(async () => {
    webDir = await buildWebOnce();
    shape = await startRehearsal({ webDir, quiet: true });
    url = shape.url;
    browser = await launchChromium("allow");
  }, 90_000);

  afterAll(async () => {
    users.forEach((u) => u.socket.disconnect());
    await browser?.close();
    await shape?.stop();
    removeBuild(webDir);
  });

  it("serves the web client from the bucket: index.html not cached, hashed bundles immutable, client routes fall back", async () => {
    const home = await fetch(`${url}/`);
    expect(home.headers.get("x-served-by")).toBe("bucket");
    expect(home.headers.get("cache-control")).toBe("no-cache");
    expect(await home.text()).toContain('<div id="root">');

    const js = readdirSync(join(webDir!, "assets")).find((f) => f.endsWith(".js"))!;
    const bundle = await fetch(`${url}/assets/${js}`);
    expect(bundle.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(bundle.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");

    const route = await fetch(`${url}/some/client/route`);
    expect(route.status).toBe(200);
    expect(await route.text()).toContain('<div id="root">');
    // A file that is not there is not the app: a stale bundle name fails loudly.
    expect((await fetch(`${url}/assets/index-gone1234.js`)).status).toBe(403);
  });

  it("sends /api/* and /healthz to the nodes in turn, never the SPA fallback; /readyz and /metrics never reach a node", async () => {
    const unknown = await fetch(`${url}/api/no-such-thing`);
    expect(unknown.headers.get("x-served-by")).toMatch(/^node/);
    expect(unknown.headers.get("content-type")).toMatch(/json/);

    const servedBy: string[] = [];
    for (let i = 0; i < 4; i++) servedBy.push((await fetch(`${url}/healthz`)).headers.get("x-served-by") ?? "");
    expect(new Set(servedBy)).toEqual(new Set(["node1", "node2"]));
    expect(servedBy[0]).not.toBe(servedBy[1]);

    for (const path of ["/readyz", "/metrics"]) {
      const res = await fetch(url + path);
      expect(res.headers.get("x-served-by"), path).toBe("bucket");
      expect(await res.text(), path).not.toMatch(/# HELP|vchat_|"checks"/);
    }
  });

  it("matches two users over WebSockets through the proxy and relays their chat, whichever node each landed on", async () => {
    const [a, b] = [await user(url, "Ana"), await user(url, "Ben")];
    users.push(a, b);
    const [ma] = await pair(a, b);
    const got = next(b.socket, "chat:message");
    expect(await request(a.socket, "chat:send", { sessionId: ma.sessionId, text: "hello through haproxy" })).toMatchObject({ ok: true });
    expect(await got).toMatchObject({ text: "hello through haproxy" });
    a.socket.disconnect();
    b.socket.disconnect();
  });

  it("two browsers call each other through the proxy, relay-only, video both ways, chat", async () => {
    async function enter(page: Page, nickname: string): Promise<void> {
      await page.goto(url);
      await page.getByLabel("Nickname").fill(nickname);
      await page.getByLabel("I am 18 or older").check();
      await page.getByLabel(/Hide my IP/).check();
      await page.getByRole("button", { name: "Start", exact: true }).click();
    }
    const alice = (await phonePage(browser)).page;
    const bob = (await phonePage(browser)).page;
    await enter(alice, "Alice");
    await enter(bob, "Bob");
    await expect.poll(() => alice.getByText("Talking with Bob").isVisible(), { timeout: 15_000 }).toBe(true);
    await expect.poll(() => bob.getByText("Talking with Alice").isVisible()).toBe(true);
    const [va, vb] = await Promise.all([waitForRemoteVideo(alice), waitForRemoteVideo(bob)]);
    expect(va.last.frames).toBeGreaterThan(va.first.frames);
    expect(vb.last.frames).toBeGreaterThan(vb.first.frames);
    await expect.poll(() => alice.getByTestId("route").textContent(), { timeout: 5000 }).toMatch(/relayed via TURN/);
    await expect.poll(() => bob.getByTestId("route").textContent(), { timeout: 5000 }).toMatch(/relayed via TURN/);
    await alice.getByRole("textbox", { name: "Message", exact: true }).fill("hi Bob, via haproxy");
    await alice.getByRole("textbox", { name: "Message", exact: true }).press("Enter");
    await expect.poll(() => bob.getByText("hi Bob, via haproxy").isVisible()).toBe(true);
    await screenshot(bob, "30-rehearsal-call");
    await alice.getByRole("button", { name: "Stop", exact: true }).click();
    await expect.poll(() => bob.getByText(/Alice left the chat/).isVisible(), { timeout: 10_000 }).toBe(true);
  }, 60_000);

  it.skipIf(!hasFirefox)("Firefox and Chromium call each other through the proxy, relay-only, video both ways", async () => {
    const firefox = await launchFirefox();
    const { page: carl, context } = await phonePage(browser);
    try {
      const fiona = await firefox.newPage();
      await ff.enter(fiona, url, "Fiona");
      await ff.press(fiona, "Start");
      await ff.waitForText(fiona, "Looking for someone to talk to");
      await carl.goto(url);
      await carl.getByLabel("Nickname").fill("Carl");
      await carl.getByLabel("I am 18 or older").check();
      await carl.getByLabel(/Hide my IP/).check();
      await carl.getByRole("button", { name: "Start", exact: true }).click();
      await ff.waitForText(fiona, "Talking with Carl");
      const inChromium = await waitForRemoteVideo(carl, { timeoutMs: 20_000 });
      expect(inChromium.last.frames).toBeGreaterThan(inChromium.first.frames);
      await expect.poll(async () => (await ff.remoteVideo(fiona)).frames, { timeout: 10_000 }).toBeGreaterThan(10);
      await ff.waitForText(fiona, "relayed via TURN");
      await ff.say(fiona, "hello from Firefox");
      await expect.poll(() => carl.getByText("hello from Firefox").isVisible()).toBe(true);
    } finally {
      await context.close();
      await firefox.close();
    }
  }, 90_000);

  it("`vchat doctor --url` passes against the proxy's URL", async () => {
    const { code, out, stderr } = await vchatJson<DoctorReport>(["doctor", "--url", url], 60_000);
    expect(out, stderr).not.toBeNull();
    const failed = out!.checks.filter((c) => c.status !== "pass" && c.status !== "skipped").map((c) => `${c.id}: ${c.verdict}`);
    expect(failed).toEqual([]);
    expect(code).toBe(0);
    for (const id of ["api-health", "api-socket", "api-ice", "turn-udp", "relay", "call"]) {
      expect(out!.checks.find((c) => c.id === id)?.status, id).toBe("pass");
    }
  }, 70_000);

  it("`vchat bots --url` carries relay-only calls through the proxy's URL", async () => {
    const args = ["bots", "--url", url, "--pairs", "1", "--relay", "only", "--duration", "10s", "--workers", "0", "--allow-overload"];
    const { code, out, stderr } = await vchatJson<BotsReport>(args, 90_000);
    expect(out, stderr).not.toBeNull();
    expect(code, JSON.stringify({ summary: out!.summary, host: (out as unknown as { host?: unknown }).host })).toBe(0);
    expect(out!.summary.connected).toBe(1);
    for (const call of out!.calls) for (const leg of call.legs) expect(leg.localCandidateType).toBe("relay");
  }, 100_000);
});

const webBuilt = existsSync(join(import.meta.dirname, "../web/dist/index.html"));
if (!missing.length && !webBuilt) console.warn("[skipped] vchat dev --prod-shape (the command): web/dist is not built (npm run build:web)");

describe.skipIf(missing.length > 0 || !webBuilt)("vchat dev --prod-shape (the command)", () => {
  it("prints its public URL, routes it, and exits 0 on SIGTERM, haproxy gone", async () => {
    const child = spawn(process.execPath, [join(import.meta.dirname, "../cli/vchat.ts"), "dev", "--prod-shape", "--port", "0", "--db", ":memory:", "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once("line", resolve);
        child.once("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      const start = JSON.parse(line) as { url: string; nodes: string[] };
      expect(start.nodes).toHaveLength(2);
      const health = await fetch(new URL("/healthz", start.url));
      expect(health.headers.get("x-served-by")).toMatch(/^node/);
      expect((await fetch(start.url)).headers.get("x-served-by")).toBe("bucket");
      const exit = new Promise<number | null>((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      expect(await exit).toBe(0);
      await expect(fetch(new URL("/healthz", start.url))).rejects.toThrow();
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);
});
