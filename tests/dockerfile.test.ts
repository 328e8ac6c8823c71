/**
 * The image's steps without a Docker engine (none runs on these machines): the build context that
 * `.dockerignore` leaves, `npm ci --omit=dev` into it, the web client built as the first stage
 * builds it, then the Dockerfile's own ENTRYPOINT + CMD as a non-root user and its HEALTHCHECK.
 * A run-time need for a dev dependency, or a source file `.dockerignore` leaves out, fails here.
 */
import { execFile } from "node:child_process";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request, type ClientSocket } from "../protocol/index.ts";
import { redisInstalled, startRedis, type RunningRedis } from "../server/cluster/redis-process.ts";
import { contextFiles } from "../stacks/release.ts";
import { buildWebOnce, removeBuild } from "./support/browser.ts";
import { serveProcess, type NodeProcess } from "./support/serve.ts";

const run = promisify(execFile);
const repo = join(import.meta.dirname, "..");

if (!redisInstalled()) console.warn("[skipped] Dockerfile steps: redis-server not installed");

/** The JSON (exec) form of the final stage's instruction, e.g. `CMD ["serve"]` (HEALTHCHECK: its CMD). */
function execForm(dockerfile: string, instruction: string): string[] {
  const finalStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  const line = finalStage.split("\n").find((l) => l.startsWith(`${instruction} `));
  if (!line) throw new Error(`the Dockerfile's final stage has no ${instruction}`);
  const json = line.slice(line.indexOf("["));
  return JSON.parse(json) as string[];
}

/** Node in the image is `node` on PATH; here it is the running one. */
const node = (argv: string[]) => (argv[0] === "node" ? [process.execPath, ...argv.slice(1)] : argv);

describe.skipIf(!redisInstalled())("the Dockerfile's steps, performed in a temporary folder", () => {
  const dockerfile = readFileSync(join(repo, "Dockerfile"), "utf8");
  let dir: string;
  let app: string;
  let webDir: string | undefined;
  let redis: RunningRedis;
  let server: NodeProcess | undefined;
  let ciOutput = "";
  // Root here; the image runs as `node`. Any unprivileged user shows the same.
  const user = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vchat-image-"));
    chmodSync(dir, 0o755);
    app = join(dir, "app");
    const context = contextFiles(repo);
    const copy = (files: string[]) => {
      for (const file of files) {
        mkdirSync(dirname(join(app, file)), { recursive: true });
        cpSync(join(repo, file), join(app, file));
      }
    };
    // The final stage's COPY lines before its npm ci (package.json, the lockfile, patches/), in
    // its words: what npm ci needs and the Dockerfile forgot to copy is missing here too.
    const stage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM ")).split("\n");
    const ci = stage.findIndex((l) => l.startsWith("RUN npm ci"));
    const early = stage
      .slice(0, ci)
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from"))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    copy(context.filter((f) => early.some((src) => f === src || f.startsWith(`${src}/`))));
    // RUN npm ci --omit=dev, from this machine's npm cache where it can; scripts in the foreground
    // so patch-package's report is seen.
    const installed = await run("npm", ["ci", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", "--foreground-scripts"], {
      cwd: app,
      timeout: 300_000,
    });
    ciOutput = installed.stdout + installed.stderr;
    // COPY . . — the rest of the build context.
    copy(context);
    // COPY --from=web /app/web/dist web/dist — the first stage's `npm run build:web`.
    webDir = await buildWebOnce();
    cpSync(webDir, join(app, "web", "dist"), { recursive: true });
    // RUN mkdir .vchat && chown node:node .vchat
    mkdirSync(join(app, ".vchat"));
    if (user) chownSync(join(app, ".vchat"), user.uid, user.gid);
    redis = await startRedis();
  }, 400_000);

  afterAll(async () => {
    await server?.stop();
    await redis?.stop();
    removeBuild(webDir);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("applies every patch of patches/ during npm ci", () => {
    const patches = existsSync(join(repo, "patches")) ? readdirSync(join(repo, "patches")).filter((f) => f.endsWith(".patch")) : [];
    // patch-package prints `werift@0.25.2 (1 event-sync-dispatch) ✔` for werift+0.25.2+001+event-sync-dispatch.patch.
    const applied = ciOutput.split("\n").filter((l) => l.trimEnd().endsWith("✔"));
    for (const patch of patches) {
      const [pkg, version, , name = ""] = patch.replace(/\.patch$/, "").split("+");
      expect(
        applied.some((l) => l.includes(`${pkg}@${version}`) && l.includes(name)),
        `${patch} in:\n${ciOutput.slice(-3000)}`,
      ).toBe(true);
    }
  });

  it("leaves tests and dev tooling out of the image, and no dev dependency is installed", () => {
    expect(existsSync(join(app, "cli", "vchat.ts"))).toBe(true);
    expect(existsSync(join(app, "tests"))).toBe(false);
    expect(readdirSync(app, { recursive: true }).filter((f) => String(f).endsWith(".test.ts") && !String(f).startsWith("node_modules"))).toEqual([]);
    // The lockfile marks what only the dev dependencies need; a production package may need one of
    // the same names (typescript, @types/*), then it is not marked.
    const lock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, p]) => p.dev && path.startsWith("node_modules/"));
    expect(devOnly.length).toBeGreaterThan(0);
    expect(devOnly.filter(([path]) => existsSync(join(app, path))).map(([path]) => path)).toEqual([]);
  });

  it("runs `vchat serve` from its ENTRYPOINT and CMD as a non-root user: web client, API, WebSocket, health check", async () => {
    const entry = node([...execForm(dockerfile, "ENTRYPOINT"), ...execForm(dockerfile, "CMD")]);
    expect(dockerfile).toMatch(/^USER node$/m);
    server = await serveProcess(
      [],
      { VCHAT_JWT_SECRET: "i".repeat(40), VCHAT_REDIS_URL: redis.url, NODE_ENV: "production" },
      { command: entry, cwd: app, ...user },
    );
    expect(server.start.redisMode).toBeDefined();

    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="root">');

    const guest = await fetch(`${server.url}/api/auth/guest`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(guest.status).toBe(201);
    const { token } = (await guest.json()) as { token: string };
    const socket: ClientSocket = io(server.url, { transports: ["websocket"], auth: { token }, reconnection: false });
    try {
      const ack = await request(socket, "lobby:join", {}, { timeoutMs: 5000 });
      expect(ack).toMatchObject({ ok: true });
    } finally {
      socket.disconnect();
    }
    // The SQLite file landed in the folder the Dockerfile made writable.
    expect(existsSync(join(app, ".vchat", "vchat.db"))).toBe(true);

    const health = node(execForm(dockerfile, "HEALTHCHECK"));
    const env = { PATH: process.env.PATH, VCHAT_PORT: new URL(server.url).port };
    await expect(run(health[0]!, health.slice(1), { cwd: app, env })).resolves.toBeDefined();
    await server.stop();
    await expect(run(health[0]!, health.slice(1), { cwd: app, env })).rejects.toMatchObject({ code: 1 });
  }, 90_000);
});
