import { spawn } from "node:child_process";
import net from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import type { ReadyResponse } from "../protocol/index.ts";
import { run } from "../cli/program.ts";
import { NodeConfigError, nodeConfigInput, redactUrl, serveNode, type RunningNode } from "../server/serve.ts";
import { openSqliteStore } from "../server/store/sqlite-store.ts";
import type { Store } from "../server/store/store.ts";
import { redisInstalled } from "../server/cluster/redis-process.ts";
import { freePort } from "../lib/ports.ts";
import { api, next, request, sleep, user } from "./support/client.ts";

const secret = "s".repeat(40);

describe("vchat serve configuration", () => {
  it("requires VCHAT_JWT_SECRET, of at least 32 characters, and says which setting is wrong", () => {
    expect(() => nodeConfigInput({}, {})).toThrow(NodeConfigError);
    expect(() => nodeConfigInput({}, {})).toThrow(/VCHAT_JWT_SECRET is not set/);
    expect(() => nodeConfigInput({}, { VCHAT_JWT_SECRET: "short" })).toThrow(/VCHAT_JWT_SECRET is too short: it needs at least 32 characters, it has 5/);
  });

  it("needs the TURN secret with TURN URLs, and checks URL schemes", () => {
    expect(() => nodeConfigInput({}, { VCHAT_JWT_SECRET: secret, VCHAT_TURN_URLS: "turn:t.example:3478" })).toThrow(/VCHAT_TURN_SECRET is not set/);
    expect(() => nodeConfigInput({}, { VCHAT_JWT_SECRET: secret, VCHAT_TURN_SECRET: "x".repeat(20) })).toThrow(/VCHAT_TURN_URLS is not/);
    expect(() => nodeConfigInput({}, { VCHAT_JWT_SECRET: secret, VCHAT_TURN_URLS: "http://t", VCHAT_TURN_SECRET: "x".repeat(20) })).toThrow(
      /VCHAT_TURN_URLS: not a STUN\/TURN URL: "http:\/\/t"/,
    );
    expect(() => nodeConfigInput({}, { VCHAT_JWT_SECRET: secret, VCHAT_STUN_URLS: "turn:x" })).toThrow(/VCHAT_STUN_URLS/);
  });

  it("reads VCHAT_TRUST_PROXY as a count of proxies, refusing anything else", () => {
    const hops = (v?: string) => nodeConfigInput({}, { VCHAT_JWT_SECRET: secret, ...(v === undefined ? {} : { VCHAT_TRUST_PROXY: v }) }).trustProxyHops;
    expect([hops(), hops("0"), hops("1"), hops("2"), hops("true"), hops("no")]).toEqual([0, 0, 1, 2, 1, 0]);
    expect(() => hops("all")).toThrow(/VCHAT_TRUST_PROXY must be the number of proxies in front of the node \(0-5\), got "all"/);
    expect(() => hops("9")).toThrow(NodeConfigError);
  });

  it("reads lists and switches from the environment; options win", () => {
    const input = nodeConfigInput(
      { port: 9000, webDir: null },
      {
        VCHAT_JWT_SECRET: secret,
        VCHAT_TURN_URLS: "turn:a:3478?transport=udp, turns:a:5349?transport=tcp",
        VCHAT_TURN_SECRET: "t".repeat(20),
        VCHAT_STUN_URLS: "stun:a:3478",
        VCHAT_CORS_ORIGINS: "https://chat.example, https://www.chat.example",
        VCHAT_TRUST_PROXY: "1",
        VCHAT_PORT: "8081",
        VCHAT_HOST: "127.0.0.1",
      },
    );
    expect(input).toMatchObject({
      host: "127.0.0.1",
      port: 9000,
      turn: { secret: "t".repeat(20), urls: ["turn:a:3478?transport=udp", "turns:a:5349?transport=tcp"] },
      stunUrls: ["stun:a:3478"],
      corsOrigins: ["https://chat.example", "https://www.chat.example"],
      trustProxyHops: 1,
    });
  });

  it("never shows a password of a database URL", () => {
    expect(redactUrl("redis://:hunter2@cache.example:6379/0")).toBe("redis://:***@cache.example:6379/0");
    expect(redactUrl("mongodb+srv://vchat:hunter2@c0.example/vchat")).not.toContain("hunter2");
  });

  it("refuses bad URLs, and an unreachable Redis with its URL but not its password", async () => {
    await expect(serveNode({ env: { VCHAT_JWT_SECRET: secret }, redis: "http://x", quiet: true })).rejects.toThrow(/must start with redis:\/\/ or rediss:\/\//);
    await expect(serveNode({ env: { VCHAT_JWT_SECRET: secret }, mongo: "postgres://x", quiet: true })).rejects.toThrow(NodeConfigError);
    const port = await freePort();
    const err = await serveNode({ env: { VCHAT_JWT_SECRET: secret }, db: ":memory:", redis: `redis://:hunter2@127.0.0.1:${port}`, quiet: true }).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).not.toContain("hunter2");
  });

  it("fails to start on an unreachable MongoDB, naming it without its password", async () => {
    const port = await freePort();
    const err = await serveNode({
      env: { VCHAT_JWT_SECRET: secret },
      mongo: `mongodb://vchat:hunter2@127.0.0.1:${port}/vchat`,
      mongoTimeoutMs: 300,
      quiet: true,
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(new RegExp(`MongoDB at mongodb://vchat:\\*\\*\\*@127\\.0\\.0\\.1:${port}/vchat is not reachable`));
    expect((err as Error).message).not.toContain("hunter2");
  });

  it("`vchat serve` without VCHAT_JWT_SECRET exits 2 and says what is missing", async () => {
    const saved = process.env.VCHAT_JWT_SECRET;
    delete process.env.VCHAT_JWT_SECRET;
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk: string) => (errors.push(String(chunk)), true);
    try {
      expect(await run(["node", "vchat", "serve", "--port", "0", "--db", ":memory:"])).toBe(2);
    } finally {
      process.stderr.write = write;
      if (saved !== undefined) process.env.VCHAT_JWT_SECRET = saved;
      process.exitCode = undefined;
    }
    expect(errors.join("")).toMatch(/VCHAT_JWT_SECRET is not set/);
  });
});

// MongoDB cannot run on this machine: its outage is played by a store whose ping fails on demand
// (the node treats any store in another process alike). Redis outages run on a real redis-server
// in cluster-faults.test.ts.
describe("a node whose store (MongoDB) is unreachable", () => {
  let node: RunningNode;
  let inner: Store;
  let down = false;

  beforeAll(async () => {
    inner = await openSqliteStore(":memory:");
    const ping = async () => {
      if (down) throw new Error("MongoServerSelectionError: connection refused");
      await inner.ping();
    };
    const store = new Proxy(inner, {
      get: (target, prop) => (prop === "ping" ? ping : (Reflect.get(target, prop) as (...a: unknown[]) => unknown).bind(target)),
    });
    node = await serveNode({ host: "127.0.0.1", port: 0, env: { VCHAT_JWT_SECRET: secret }, store, storeCheckMs: 100, quiet: true, webDir: null });
  });
  afterAll(async () => {
    await node?.stop();
    await inner?.close();
  });

  it("refuses new matches with UNAVAILABLE and says 503 in /readyz, keeps the call going, and recovers by itself", async () => {
    const [a, b, c] = [await user(node.url, "a"), await user(node.url, "b"), await user(node.url, "c")];
    const fa = next(a.socket, "match:found");
    await request(a.socket, "lobby:join", {});
    await request(b.socket, "lobby:join", {});
    const { sessionId } = await fa;

    down = true;
    for (let i = 0; i < 50 && node.canMatch(); i++) await sleep(50);
    expect(node.canMatch()).toBe(false);
    const ready = await api<ReadyResponse>(node.url, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body.checks.store).toMatchObject({ ok: false });
    expect(await request(c.socket, "lobby:join", {})).toMatchObject({ ok: false, error: { code: "UNAVAILABLE" } });
    const got = next(b.socket, "signal");
    expect(await request(a.socket, "signal", { sessionId, candidate: null })).toEqual({ ok: true });
    expect(await got).toEqual({ sessionId, candidate: null });

    down = false;
    for (let i = 0; i < 50 && !node.canMatch(); i++) await sleep(50);
    expect((await api(node.url, "/readyz")).status).toBe(200);
    expect(await request(c.socket, "lobby:join", {})).toMatchObject({ ok: true });
    [a, b, c].forEach((u) => u.socket.disconnect());
  });
});

const hasRedis = redisInstalled();

describeIf(hasRedis, "redis-server is not installed")("vchat dev --nodes 2", () => {
  it("starts two nodes over a local redis-server, matches users across them, and stops it all on SIGTERM", async () => {
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, "../cli/vchat.ts"), "dev", "--nodes", "2", "--port", "0", "--db", ":memory:", "--no-turn", "--json"],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start line within 60 s: ${stderr}`)), 60_000);
        createInterface({ input: child.stdout }).once("line", (l) => (clearTimeout(timer), resolve(l)));
      });
      const start = JSON.parse(line) as { nodes: { url: string }[]; redis: string; redisSpawned: boolean };
      expect(start.nodes).toHaveLength(2);
      expect(start.redisSpawned).toBe(true);
      expect(start.redis).toMatch(/^redis:\/\/127\.0\.0\.1:\d+/);
      const [u1, u2] = start.nodes.map((n) => n.url.replace(/\/$/, "")) as [string, string];
      const [a, b] = [await user(u1, "dev-a"), await user(u2, "dev-b")];
      const fb = next(b.socket, "match:found");
      await request(a.socket, "lobby:join", {});
      await request(b.socket, "lobby:join", {});
      expect((await fb).peer.id).toBe(a.id);
      a.socket.disconnect();
      b.socket.disconnect();

      child.kill("SIGTERM");
      expect(await exited).toBe(0);
      // The redis-server it started is gone with it.
      const port = Number(new URL(start.redis).port);
      const open = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, "127.0.0.1");
        s.once("connect", () => (s.destroy(), resolve(true)));
        s.once("error", () => resolve(false));
      });
      expect(open).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  }, 90_000);
});
