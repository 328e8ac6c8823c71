/**
 * Starting and stopping a node as its operator sees it: bad URLs, a stop that a half-sent request
 * cannot hold, nothing left open by `kill -9`, and `vchat dev --nodes` carrying bots.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import type { BotsReport } from "../bots/report.ts";
import type { SessionsResponse } from "../protocol/index.ts";
import { parseConfig } from "../server/config.ts";
import { startDevServer, type DevServer } from "../server/dev.ts";
import { startNode } from "../server/node.ts";
import { redisInstalled, startRedis } from "../server/cluster/redis-process.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { api, pair, user } from "./support/client.ts";
import { until } from "./support/crowd.ts";
import { testDev } from "./support/dev.ts";

const cli = join(import.meta.dirname, "../cli/vchat.ts");

/** A logger whose JSON lines land in `lines`. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

describe("a malformed URL", () => {
  let dev: DevServer;
  let web: string;
  const log = capture();
  beforeAll(async () => {
    web = mkdtempSync(join(tmpdir(), "vchat-web-"));
    writeFileSync(join(web, "index.html"), "<!doctype html><title>vchat</title>");
    dev = await startDevServer({ port: 0, db: ":memory:", turn: false, webDir: web, logger: log.logger });
  });
  afterAll(async () => {
    await dev?.stop();
    rmSync(web, { recursive: true, force: true });
  });

  it("gets 400 VALIDATION_FAILED, and the log gets no error or stack", async () => {
    for (const path of ["/%E0%A4%A", "/assets/%E0%A4%A", "/%"]) {
      const res = await rawGet(dev.port, path);
      expect(res.status, path).toBe(400);
      expect(JSON.parse(res.body), path).toMatchObject({ error: { code: "VALIDATION_FAILED" } });
    }
    expect(log.lines.filter((l) => Number(l.level) >= 50)).toEqual([]);
    expect(JSON.stringify(log.lines)).not.toContain("stack");
  });
});

describe("stopping", () => {
  it("is not held by a request sent by half: the connection is cut within the grace period", async () => {
    const dev = await testDev({ config: { tuning: { shutdownGraceMs: 1000 } } });
    const socket = net.connect(dev.port, "127.0.0.1");
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    const server = dev.service.httpServer;
    const connections = () => new Promise<number>((resolve) => server.getConnections((_err, n) => resolve(n)));
    await until(
      async () => (await connections()) === 1,
      5000,
      () => "the server never saw the connection",
    );
    const t0 = Date.now();
    expect(await dev.stop()).toEqual([]);
    const took = Date.now() - t0;
    await closed;
    console.log(`stop with a half-sent request open took ${took} ms (grace 1000 ms)`);
    expect(took).toBeLessThan(4000);
  }, 15_000);
});

describe("vchat dev stopping with a request sent by half", () => {
  it("exits 0 within a few seconds of SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vchat-half-"));
    const dev = await devProcess(["--no-turn", "--db", ":memory:"], dir);
    const socket = net.connect(Number(new URL(String(dev.start.url)).port), "127.0.0.1");
    socket.on("error", () => {});
    try {
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      // The server reads the half request: it answers nothing, so wait for the bytes to leave.
      await new Promise<void>((resolve) => (socket.writableLength === 0 ? resolve() : socket.once("drain", () => resolve())));
      const t0 = Date.now();
      dev.child.kill("SIGTERM");
      const code = await Promise.race([exited(dev.child), new Promise<string>((r) => setTimeout(() => r("still running after 10 s"), 10_000).unref())]);
      console.log(`vchat dev with a half-sent request open exited ${code} after ${Date.now() - t0} ms`);
      expect(code).toBe(0);
    } finally {
      socket.destroy();
      if (dev.child.exitCode === null && dev.child.signalCode === null) dev.child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

/** `vchat dev --json` in a child process; resolves on its start line. */
function devProcess(args: string[], cwd: string): Promise<{ child: ChildProcess; start: Record<string, unknown>; stderr: () => string }> {
  const child = spawn(process.execPath, [cli, "dev", "--port", "0", "--json", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vchat dev did not start within 60 s: ${stderr}`)), 60_000);
    child.once("exit", (code) => (clearTimeout(timer), reject(new Error(`vchat dev exited ${code}: ${stderr}`))));
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      resolve({ child, start: JSON.parse(line) as Record<string, unknown>, stderr: () => stderr });
    });
  });
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) =>
    child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once("exit", (code) => resolve(code)),
  );

const tcpOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });

describe("vchat dev killed with kill -9 mid-call", () => {
  const hasCoturn = coturnInstalled();
  if (!hasCoturn) console.log("coturn not installed: the coturn part of the kill -9 test is skipped");

  it("leaves no coturn running, and the restart on the same --db closes the call with server-restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vchat-crash-"));
    // Started from another folder than the database's: the secrets are beside the database.
    const elsewhere = mkdtempSync(join(tmpdir(), "vchat-cwd-"));
    const db = join(dir, "v.db");
    const children: ChildProcess[] = [];
    try {
      const first = await devProcess(["--db", db], elsewhere);
      children.push(first.child);
      const url = String(first.start.url).replace(/\/$/, "");
      const turn = first.start.turn as string[];
      expect(existsSync(join(dir, "secrets.json"))).toBe(true);
      expect(existsSync(join(elsewhere, ".vchat"))).toBe(false);
      const turnPort = turn.length ? Number(/:(\d+)\?/.exec(turn[0]!)![1]) : 0;
      if (hasCoturn) {
        expect(turn.length).toBeGreaterThan(0);
        const conf = join(dir, "coturn", "turnserver.conf");
        expect(statSync(conf).mode & 0o777).toBe(0o600);
        expect(readFileSync(conf, "utf8")).toContain("static-auth-secret=");
      }

      const [a, b] = [await user(url, "crash-a"), await user(url, "crash-b")];
      const [found] = await pair(a, b);
      first.child.kill("SIGKILL");
      await exited(first.child);
      a.socket.disconnect();
      b.socket.disconnect();
      if (hasCoturn)
        await until(
          async () => !(await tcpOpen(turnPort)),
          5000,
          () => `coturn still answers on ${turnPort} after its parent was killed`,
        );

      const second = await devProcess(["--db", db], dir);
      children.push(second.child);
      const url2 = String(second.start.url).replace(/\/$/, "");
      // The same secrets: a's token still works, and a's call is closed.
      const history = await api<SessionsResponse>(url2, "/api/sessions", { token: a.token });
      expect(history.status).toBe(200);
      const call = history.body.sessions.find((s) => s.id === found.sessionId);
      expect(call).toMatchObject({ endReason: "server-restart" });
      expect(call?.endedAt).toBeTruthy();

      second.child.kill("SIGTERM");
      expect(await exited(second.child)).toBe(0);
      // Its coturn's configuration, with the secret, is gone with it.
      expect(existsSync(join(dir, "coturn"))).toBe(false);
    } finally {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      rmSync(elsewhere, { recursive: true, force: true });
    }
  }, 120_000);
});

const hasRedis = redisInstalled();

describeIf(hasRedis, "redis-server is not installed")("vchat dev --nodes 2", () => {
  it("carries 20 bot pairs signing up from one address without RATE_LIMITED (the dev preset on every node), and leaves no redis-server when killed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vchat-nodes-"));
    const dev = await devProcess(["--nodes", "2", "--no-turn", "--db", ":memory:"], dir);
    try {
      const nodes = dev.start.nodes as { url: string }[];
      const file = join(dir, "report.json");
      const bots = spawn(
        process.execPath,
        [
          cli,
          "bots",
          "--url",
          nodes[1]!.url.replace(/\/$/, ""),
          "--pairs",
          "20",
          "--duration",
          "3s",
          "--ramp",
          "40",
          "--relay",
          "never",
          "--min-connected",
          "0",
          "--json",
          file,
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let stderr = "";
      bots.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const code = await exited(bots);
      expect(code, stderr).not.toBe(2);
      const report = JSON.parse(readFileSync(file, "utf8")) as BotsReport;
      console.log(`20 pairs on 2 nodes: ${report.summary.connected}/${report.summary.requested} connected; errors ${JSON.stringify(report.errors)}`);
      // The bots report the server's message ("too many requests; retry in 59 s") or its code.
      expect(JSON.stringify(report) + stderr).not.toMatch(/RATE_LIMITED|too many requests/);
      expect(report.summary.requested).toBe(20);

      // Killed with -9, it leaves no redis-server behind.
      const redisPort = Number(new URL(String(dev.start.redis)).port);
      dev.child.kill("SIGKILL");
      await exited(dev.child);
      await until(
        async () => !(await tcpOpen(redisPort)),
        5000,
        () => `redis-server still answers on ${redisPort} after vchat dev was killed`,
      );
    } finally {
      if (dev.child.exitCode === null && dev.child.signalCode === null) dev.child.kill("SIGTERM");
      await exited(dev.child);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describeIf(hasRedis, "redis-server is not installed")("a node starting on a cluster", () => {
  it("closes the calls a crash left open, but not the live calls of the other nodes", async () => {
    const redis = await startRedis();
    const cluster = await testDev({ nodes: 1, redis: redis.url });
    try {
      const [a, b] = [await user(cluster.url, "live-a"), await user(cluster.url, "live-b")];
      const [live] = await pair(a, b);
      // A call of a node that crashed with Redis' state of it lost: only the store has it.
      const at = new Date().toISOString();
      const participants = [
        { userId: "ghost-a", nickname: "ghost a" },
        { userId: "ghost-b", nickname: "ghost b" },
      ] as const;
      await cluster.store.createSession({ id: "crashed-call", participants: [...participants], relayOnly: false, sharedInterests: [], startedAt: at });
      // A call still live in Redis, of nodes that all died and stayed down until their socket
      // lists expired: no live node has its sockets.
      const mm = cluster.nodes[0]!.matchmaker;
      const entry = (userId: string) => ({ userId, socketId: `gone-${userId}`, nickname: userId, interests: [], relayOnly: false, avoid: [] });
      await mm.join(entry("orphan-a"));
      const orphan = (await mm.join(entry("orphan-b")))!;
      await cluster.store.createSession({
        id: orphan.id,
        participants: [
          { userId: "orphan-a", nickname: "orphan-a" },
          { userId: "orphan-b", nickname: "orphan-b" },
        ],
        relayOnly: false,
        sharedInterests: [],
        startedAt: at,
      });

      const late = await startNode(parseConfig({ ...cluster.config, port: 0, nodeId: "late-node" }), { store: cluster.store });
      try {
        expect(await cluster.store.getSession("crashed-call")).toMatchObject({ endReason: "server-restart" });
        expect(await cluster.store.getSession(orphan.id)).toMatchObject({ endReason: "server-restart" });
        expect(await mm.sessionOf("orphan-a")).toBeNull();
        expect(await cluster.store.getSession(live.sessionId)).toMatchObject({ endedAt: null, endReason: null });
        expect((await mm.getSession(live.sessionId))?.id).toBe(live.sessionId);
      } finally {
        await late.stop();
      }
      a.socket.disconnect();
      b.socket.disconnect();
    } finally {
      await cluster.stop();
      await redis.stop();
    }
  });
});

describe("--state-dir", () => {
  it("must exist: vchat dev refuses a folder that is not there and does not create it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vchat-state-"));
    try {
      const missing = join(dir, "nope");
      await expect(startDevServer({ port: 0, db: join(dir, "v.db"), stateDir: missing, turn: false, quiet: true, webDir: null })).rejects.toThrow(
        new RegExp(`state folder ${missing} does not exist`),
      );
      expect(existsSync(missing)).toBe(false);
      mkdirSync(missing);
      const dev = await startDevServer({ port: 0, db: join(dir, "v.db"), stateDir: missing, turn: false, quiet: true, webDir: null });
      await dev.stop();
      expect(existsSync(join(missing, "secrets.json"))).toBe(true);
      expect(existsSync(join(dir, "secrets.json"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
