import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { hasChromium, phonePage, webClientBed } from "./support/browser.ts";

if (!hasChromium) console.warn("[skipped] web client transport e2e: Chromium (/usr/bin/chromium) not installed");

/**
 * A proxy in front of the server that passes HTTP and refuses every WebSocket upgrade with 403,
 * as some corporate proxies and firewalls do.
 */
async function upgradeRefusingProxy(target: string): Promise<{ url: string; close(): Promise<void> }> {
  const to = new URL(target);
  const server: Server = createServer((req, res) => {
    const upstream = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });
  server.on("upgrade", (_req, socket) => socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Behind a load balancer without stickiness, long-polling breaks (each request of a session may
 * reach another node), so the client must open Socket.IO over WebSocket only, and say so plainly
 * when a WebSocket cannot get through.
 */
describe.skipIf(!hasChromium)("web client: Socket.IO over WebSocket only", () => {
  const bed = webClientBed();

  async function pressStart(page: import("playwright-core").Page): Promise<void> {
    await page.getByLabel("I am 18 or older").check();
    await page.getByRole("button", { name: "Start", exact: true }).click();
  }

  it("opens Socket.IO with a WebSocket and never long-polls", async () => {
    const { page, context } = await phonePage(bed.browser);
    try {
      const polls: string[] = [];
      const sockets: string[] = [];
      page.on("request", (r) => {
        if (r.url().includes("/socket.io/")) polls.push(r.url());
      });
      page.on("websocket", (ws) => sockets.push(ws.url()));
      await page.goto(bed.dev.url);
      await pressStart(page);
      await expect.poll(() => page.getByText("Looking for someone to talk to").isVisible(), { timeout: 10_000 }).toBe(true);
      expect(sockets.some((u) => u.includes("/socket.io/") && u.includes("transport=websocket"))).toBe(true);
      expect(polls).toEqual([]);
    } finally {
      await context.close();
    }
  }, 30_000);

  it("says WebSockets are blocked when the sign-in works but the upgrade is refused", async () => {
    const proxy = await upgradeRefusingProxy(bed.dev.url);
    const { page, context } = await phonePage(bed.browser);
    try {
      await page.goto(proxy.url);
      await pressStart(page);
      await expect.poll(() => page.getByText(/WebSocket connection was refused/).isVisible(), { timeout: 15_000 }).toBe(true);
      // Back on the start screen, where Start can be pressed again.
      expect(await page.getByRole("button", { name: "Start", exact: true }).isVisible()).toBe(true);
    } finally {
      await context.close();
      await proxy.close();
    }
  }, 30_000);
});
