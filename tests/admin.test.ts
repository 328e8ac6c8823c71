import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import type { AuthResponse, AuthRevoked, Ban } from "../protocol/index.ts";
import { signAdminToken } from "../server/admin/admin-token.ts";
import type { LocalCluster } from "../server/dev.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/cluster/redis-process.ts";
import { api, next, pair, request, socketFor, user, type ClientSocket, type TestUser } from "./support/client.ts";
import { testDev } from "./support/dev.ts";

/**
 * Moderation end to end: a real `vchat dev` in a child process, the `vchat admin` commands as an
 * operator runs them (the admin secret read from the dev's state folder), and what the banned
 * user sees on REST and Socket.IO.
 */

const cli = join(import.meta.dirname, "../cli/vchat.ts");

/** Runs `vchat ...` to the end: exit code and output. */
function vchat(args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [cli, ...args], { cwd, env: { PATH: process.env.PATH, USER: "ops", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    proc.on("exit", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * How long a wait started before `vchat admin` runs may take: it spans the CLI's own start (a Node
 * process loading the CLI), seconds on two loaded cores, not only the server's answer.
 */
const acrossCliMs = 20_000;

/** The socket's `auth:revoked` (within `ms`, else `next`'s default) and the disconnect reason that follows it. */
function revokedThenClosed(socket: ClientSocket, ms?: number): Promise<{ revoked: AuthRevoked; reason: string }> {
  const revoked = next(socket, "auth:revoked", ms);
  const closed = new Promise<string>((resolve) => socket.once("disconnect", resolve));
  return Promise.all([revoked, closed]).then(([r, reason]) => ({ revoked: r, reason }));
}

function connectError(url: string, token: string): Promise<{ code?: string; message: string }> {
  const socket = socketFor(url, token);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => {
      socket.disconnect();
      reject(new Error("connected"));
    });
    socket.once("connect_error", (err: Error & { data?: { code: string } }) => {
      socket.disconnect();
      resolve({ code: err.data?.code, message: err.message });
    });
  });
}

describe("vchat admin against a real vchat dev", () => {
  let dir: string;
  let devProc: ChildProcess;
  let url: string;
  beforeAll(async () => {
    // The dev keeps its secrets in ./.vchat beside its database; `vchat admin` finds them there.
    dir = mkdtempSync(join(tmpdir(), "vchat-admin-"));
    devProc = spawn(process.execPath, [cli, "dev", "--json", "--port", "0", "--no-turn", "--db", join(dir, ".vchat", "vchat.db")], {
      cwd: dir,
      env: { PATH: process.env.PATH },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const line = await new Promise<string>((resolve, reject) => {
      devProc.once("exit", (code) => reject(new Error(`vchat dev exited with ${code}`)));
      createInterface({ input: devProc.stdout! }).once("line", resolve);
    });
    url = (JSON.parse(line) as { url: string }).url.replace(/\/$/, "");
  }, 60_000);
  afterAll(async () => {
    if (devProc && devProc.exitCode === null) {
      const exited = new Promise((resolve) => devProc.once("exit", resolve));
      devProc.kill("SIGTERM");
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const admin = (...args: string[]) => vchat(["admin", ...args, "--url", url], dir);

  it("ban disconnects the user's open socket with the reason, refuses login, /api/ice and new sockets; unban restores", async () => {
    const reg = await api<AuthResponse>(url, "/api/auth/register", { body: { email: "mal@example.org", password: "mal's password", nickname: "mal" } });
    expect(reg.status).toBe(201);
    const mal: TestUser = { token: reg.body.token, id: reg.body.user.id, nickname: "mal", socket: socketFor(url, reg.body.token) };
    await new Promise<void>((resolve) => mal.socket.once("connect", () => resolve()));
    const peer = await user(url, "peer");
    const [found] = await pair(mal, peer);
    expect(
      (await api(url, "/api/reports", { token: peer.token, body: { sessionId: found.sessionId, reason: "spam", details: "links to a scam" } })).status,
    ).toBe(201);

    const reports = await admin("reports", "--since", "1h", "--json");
    expect(reports.code, reports.stderr).toBe(0);
    expect(JSON.parse(reports.stdout).reports).toEqual([
      expect.objectContaining({ sessionId: found.sessionId, reporterId: peer.id, reportedId: mal.id, reason: "spam", details: "links to a scam" }),
    ]);
    const human = await admin("reports");
    expect(human.stdout).toContain(`reported ${mal.id}  by ${peer.id}`);

    const closed = revokedThenClosed(mal.socket, acrossCliMs);
    const peerTold = next(peer.socket, "call:ended", acrossCliMs);
    const banned = await admin("ban", mal.id, "--reason", "spam in chat", "--for", "7d", "--json");
    expect(banned.code, banned.stderr).toBe(0);
    const ban = (JSON.parse(banned.stdout) as { ban: Ban }).ban;
    expect(ban).toMatchObject({ userId: mal.id, reason: "spam in chat", by: "ops", liftedAt: null });
    expect(Date.parse(ban.until!) - Date.parse(ban.at)).toBe(7 * 86_400_000);

    const { revoked, reason } = await closed;
    expect(revoked).toMatchObject({ reason: "banned", until: ban.until });
    expect(revoked.message).toContain("spam in chat");
    expect(reason).toBe("io server disconnect");
    expect(await peerTold).toMatchObject({ sessionId: found.sessionId, reason: "disconnected" });

    const login = () => api<AuthResponse>(url, "/api/auth/login", { body: { email: "mal@example.org", password: "mal's password" } });
    expect(await login()).toMatchObject({ status: 403, body: { error: { code: "BANNED" } } });
    expect(await api(url, "/api/ice", { token: mal.token })).toMatchObject({ status: 403, body: { error: { code: "BANNED" } } });
    expect(await api(url, "/api/me", { token: mal.token })).toMatchObject({ status: 403, body: { error: { code: "BANNED" } } });
    expect(await connectError(url, mal.token)).toMatchObject({ code: "BANNED", message: expect.stringContaining("spam in chat") });

    const unbanned = await admin("unban", mal.id);
    expect(unbanned.code, unbanned.stderr).toBe(0);
    expect(unbanned.stdout).toContain(`unbanned ${mal.id} (1 ban lifted)`);
    const again = await login();
    expect(again.status).toBe(200);
    expect((await api(url, "/api/ice", { token: again.body.token })).status).toBe(200);
    const back = socketFor(url, again.body.token);
    await new Promise<void>((resolve, reject) => {
      back.once("connect", () => resolve());
      back.once("connect_error", reject);
    });
    expect(await request(back, "lobby:join", {})).toMatchObject({ ok: true });
    back.disconnect();
    peer.socket.disconnect();
  });

  it("the admin API takes only admin tokens: never a user's, nor one from another secret", async () => {
    const u = await user(url, "curious");
    expect(await api(url, "/api/admin/reports", { token: u.token })).toMatchObject({ status: 403, body: { error: { code: "FORBIDDEN" } } });
    const forged = signAdminToken("a-secret-the-operator-never-had-0000000", "ops");
    expect(await api(url, "/api/admin/bans", { token: forged, body: { userId: u.id, reason: "x" } })).toMatchObject({ status: 403 });
    expect(await api(url, "/api/admin/unbans", { body: { userId: u.id } })).toMatchObject({ status: 401, body: { error: { code: "UNAUTHENTICATED" } } });
    expect(u.socket.connected).toBe(true);
    u.socket.disconnect();
  });

  it("exit codes: 2 for usage errors and a missing admin secret, 1 when the service refuses or cannot be reached", async () => {
    expect((await admin("ban", "someone")).code).toBe(2);
    expect((await admin("ban", "someone", "--reason", "x", "--for", "forever")).code).toBe(2);
    expect((await admin("reports", "--state-dir", join(dir, "nowhere"))).code).toBe(2);
    const bad = await admin("ban", "not an id!", "--reason", "x");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("VALIDATION_FAILED");
    const forged = await vchat(["admin", "reports", "--url", url], dir, {
      VCHAT_ADMIN_TOKEN: signAdminToken("a-secret-the-operator-never-had-0000000", "ops"),
    });
    expect(forged.code).toBe(1);
    expect(forged.stderr).toContain("403 FORBIDDEN");
    expect((await vchat(["admin", "reports", "--url", "http://127.0.0.1:9"], dir)).code).toBe(1);
  });
});

describeIf(redisInstalled(), "redis-server is not installed")("a ban on one node reaches the other nodes (2 nodes on a real redis-server)", () => {
  let redis: RunningRedis;
  let cluster: LocalCluster;
  const adminSecret = "the-operators-admin-secret-for-this-test";
  beforeAll(async () => {
    redis = await startRedis();
    cluster = await testDev({ nodes: 2, redis: redis.url, config: { adminSecret, tuning: { accountCheckMs: 1000 } } });
  });
  afterAll(async () => {
    await cluster?.stop();
    await redis?.stop();
  });

  it("the socket on the other node is disconnected at once, and its REST calls refused within the check interval", async () => {
    const [a, b] = cluster.urls as [string, string];
    const mal = await user(b, "mal");
    // Node b has checked mal recently: its cached answer is what has to run out.
    expect((await api(b, "/api/ice", { token: mal.token })).status).toBe(200);
    const closed = revokedThenClosed(mal.socket);
    const token = signAdminToken(adminSecret, "ops");
    expect((await api(a, "/api/admin/bans", { token, body: { userId: mal.id, reason: "ban evasion" } })).status).toBe(201);
    expect((await closed).revoked).toMatchObject({ reason: "banned", until: null });
    const started = Date.now();
    while ((await api(b, "/api/ice", { token: mal.token })).status === 200) {
      expect(Date.now() - started).toBeLessThan(3000);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await api(b, "/api/ice", { token: mal.token })).toMatchObject({ status: 403, body: { error: { code: "BANNED" } } });
  });
});
