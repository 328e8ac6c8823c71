/**
 * `vchat dev` shows what happens: the status block under a pseudo-terminal while two bots call
 * each other, plain status lines without one, `--https` with its self-signed certificate (web
 * client, API and a call over TLS), and `--host 0.0.0.0 --public-ip` in /api/ice's TURN URLs.
 * Everything binds and connects on loopback; the wildcard listener is reached via 127.0.0.1.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, expect, it } from "vitest";
import { restClient, type AuthResponse, type IceResponse } from "../protocol/index.ts";
import { runBots } from "../bots/run.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { describeIf } from "./support/skip.ts";
import { hasScript, onTerminal } from "./support/terminal.ts";

const cli = join(import.meta.dirname, "..", "cli", "vchat.ts");
const hasOpenssl = spawnSync("sh", ["-c", "command -v openssl"], { stdio: "ignore" }).status === 0;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vchat-dev-status-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `vchat dev` without a terminal; resolves once its banner (or JSON start line) is out. */
async function devProcess(args: string[]) {
  const child = spawn(process.execPath, [cli, "dev", "--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
  const lines: string[] = [];
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on("line", (l) => {
    lines.push(l);
    for (const w of waiters) w();
  });
  const exit = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const line = (pattern: RegExp, timeoutMs = 30_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => pattern.test(l));
        if (found === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => reject(new Error(`vchat dev never printed ${pattern}:\n${lines.join("\n")}\n${stderr.slice(-2000)}`)), timeoutMs);
      waiters.add(check);
      void exit.then(() => reject(new Error(`vchat dev exited:\n${lines.join("\n")}\n${stderr.slice(-2000)}`)));
      check();
    });
  return {
    line,
    lines,
    stop: async () => {
      child.kill("SIGTERM");
      return exit;
    },
  };
}

/** GET or POST over TLS, trusting only the given certificate. */
function tlsRequest(url: string, ca: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca,
        method: init.method ?? "GET",
        headers: { "content-type": "application/json", ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
      },
      (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(init.body === undefined ? undefined : JSON.stringify(init.body));
  });
}

describeIf(coturnInstalled() && hasScript, "needs turnserver (coturn) and `script` (util-linux)")("vchat dev on a terminal", () => {
  it("the status block shows users online, a relayed call in progress, then the match per minute; Ctrl-C exits 0", async () => {
    const run = onTerminal(["dev", "--port", "0", "--db", join(dir, "tty.db")]);
    try {
      await run.until(/web\s+http:\/\/127\.0\.0\.1:\d+\//);
      const url = /web\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(run.screen())![1]!;
      await run.until(/calls in progress 0/);
      const bots = runBots({ url, pairs: 1, durationMs: 9000, relay: "only", workers: 0, allowOverload: true });
      // Colours are on: an escape may sit between a figure and the next word.
      await run.until(/users online 2[\s\S]{0,40}waiting 0/, 30_000);
      // eslint-disable-next-line no-control-regex -- an ANSI escape may follow the bold figure
      await run.until(/calls in progress 1(\x1b\[\d+m)?\s+relayed 1/, 30_000);
      const report = await bots;
      expect(report.summary.connected).toBe(1);
      // eslint-disable-next-line no-control-regex -- as above
      await run.until(/calls in progress 0(\x1b\[\d+m)?\s+relayed 0\s+matches\/min 1/, 15_000);
      await run.until(/users online 0/, 15_000);
      run.ctrlC();
      expect(await run.exit, run.screen()).toBe(0);
      // Info logs stay off the terminal while the block is drawn.
      expect(run.screen()).not.toMatch(/"level":30/);
    } finally {
      run.kill();
    }
  }, 90_000);
});

describeIf(coturnInstalled() && hasOpenssl, "needs turnserver (coturn) and openssl")("vchat dev --https, without a terminal", () => {
  it("serves the web client, the API and a bots call over TLS with its self-signed certificate; status lines show the call", async () => {
    const state = mkdtempSync(join(dir, "https-"));
    const dev = await devProcess(["--https", "--db", join(state, "v.db")]);
    try {
      const web = /web\s+(https:\/\/127\.0\.0\.1:\d+)\//.exec(await dev.line(/^\s+web\s+https:/))![1]!;
      const certFile = /cert\s+(\S+)/.exec(await dev.line(/^\s+cert\s/))![1]!;
      expect(certFile).toBe(join(state, "tls", "cert.pem"));
      const ca = readFileSync(certFile, "utf8");
      const page = await tlsRequest(`${web}/`, ca);
      expect(page.status).toBe(200);
      expect(page.body).toMatch(/<html/i);
      const guest = await tlsRequest(`${web}/api/auth/guest`, ca, { method: "POST", body: { nickname: "phone" } });
      expect(guest.status).toBe(201);
      const { token } = JSON.parse(guest.body) as AuthResponse;
      const ice = JSON.parse((await tlsRequest(`${web}/api/ice`, ca, { token })).body) as IceResponse;
      expect(ice.iceServers.length).toBeGreaterThan(0);
      // Without the certificate, TLS refuses: it is self-signed, not a known CA's.
      await expect(fetch(`${web}/healthz`)).rejects.toThrow();

      // A whole call over HTTPS and WSS: the bots trust the certificate as a phone would once accepted.
      const bots = spawnSync(
        process.execPath,
        [cli, "bots", "--url", web, "--pairs", "1", "--duration", "6s", "--relay", "only", "--allow-overload", "--json"],
        { env: { ...process.env, NODE_EXTRA_CA_CERTS: certFile }, encoding: "utf8", timeout: 60_000 },
      );
      expect(bots.status, bots.stderr).toBe(0);
      expect((JSON.parse(bots.stdout) as { summary: { connected: number } }).summary.connected).toBe(1);
      await dev.line(/^status: users online 2, waiting 0, calls in progress 1 \(relayed 1\)/);
      // Errors are whatever the server answered the bots with on their way out; counted, not judged here.
      await dev.line(/^status: users online 0, waiting 0, calls in progress 0 \(relayed 0\), matches\/min 1, errors \d+$/);
      expect(await dev.stop()).toBe(0);
    } finally {
      await dev.stop();
    }
  }, 90_000);
});

describeIf(coturnInstalled(), "needs turnserver (coturn)")("vchat dev --host 0.0.0.0 --public-ip", () => {
  it("hands out TURN URLs on the public address, reached here through 127.0.0.1", async () => {
    const dev = await devProcess(["--host", "0.0.0.0", "--public-ip", "127.0.0.2", "--json", "--db", ":memory:"]);
    try {
      const start = JSON.parse(await dev.line(/^\{/)) as { url: string; turn: string[] };
      const base = start.url.replace("0.0.0.0", "127.0.0.1").replace(/\/$/, "");
      const guest = await restClient({ baseUrl: base }).call("guest", {});
      const ice = await restClient({ baseUrl: base, token: guest.token }).call("ice", undefined);
      const urls = ice.iceServers.flatMap((s) => [s.urls].flat()).filter((u) => u.startsWith("turn"));
      expect(urls).toEqual([expect.stringMatching(/^turn:127\.0\.0\.2:\d+\?transport=udp$/), expect.stringMatching(/^turn:127\.0\.0\.2:\d+\?transport=tcp$/)]);
      expect(start.turn).toEqual(urls);
    } finally {
      expect(await dev.stop()).toBe(0);
    }
  }, 60_000);

  it("--public-ip that is not an address is a usage error", () => {
    const r = spawnSync(process.execPath, [cli, "dev", "--public-ip", "my-laptop"], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--public-ip must be an IPv4 or IPv6 address, got "my-laptop"/);
  });
});
