/**
 * The npm package runs once installed: `npm pack` (prepack compiles the Node side to dist/,
 * since Node refuses to strip types under node_modules), `npm install -g` of the tarball into a
 * temporary prefix, then the installed `vchat` answers --version and --help and `vchat dev`
 * serves the bundled web client. Dependencies come from npm's cache (--offline); when the cache
 * lacks some, from the registry (--prefer-offline); with neither, the test says it was skipped.
 */
import { execFile, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = resolve(import.meta.dirname, "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
let dir: string;
let vchat: string;
let skipReason: string | null = null;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "vchat-package-"));
  const { stdout } = await run("npm", ["pack", "--pack-destination", dir, "--silent"], { cwd: root, timeout: 240_000 });
  const tarball = join(dir, stdout.trim().split("\n").pop()!);
  const prefix = join(dir, "prefix");
  const install = (mode: string) =>
    run("npm", ["install", "-g", "--prefix", prefix, mode, "--no-audit", "--no-fund", "--loglevel", "error", tarball], { cwd: dir, timeout: 240_000 });
  try {
    await install("--offline");
  } catch (offline) {
    if (!/ENOTCACHED/.test(String((offline as { stderr?: string }).stderr))) throw offline;
    try {
      await install("--prefer-offline");
    } catch (err) {
      skipReason = `dependencies neither in npm's cache nor from the registry: ${String((err as { stderr?: string }).stderr).slice(0, 300)}`;
    }
  }
  vchat = join(prefix, "bin", "vchat");
}, 480_000);

// The prefix holds every dependency (Pulumi's are large): removing it takes a while on a busy machine.
afterAll(() => rm(dir, { recursive: true, force: true }), 180_000);

describe("the installed package", () => {
  it("vchat --version, dev --help and doctor --help work", async ({ skip }) => {
    if (skipReason) {
      console.log(`package install test skipped: ${skipReason}`);
      skip();
    }
    expect((await run(vchat, ["--version"], { timeout: 30_000 })).stdout.trim()).toBe(version);
    expect((await run(vchat, ["dev", "--help"], { timeout: 30_000 })).stdout).toMatch(/Usage: vchat dev/);
    expect((await run(vchat, ["doctor", "--help"], { timeout: 30_000 })).stdout).toMatch(/Usage: vchat doctor/);
  });

  it("vchat dev serves the API and the bundled web client", async ({ skip }) => {
    if (skipReason) skip();
    const child = spawn(vchat, ["dev", "--port", "0", "--json", "--no-turn", "--db", ":memory:"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    try {
      const ready = await new Promise<{ url: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start line within 30 s: ${stderr}`)), 30_000);
        child.once("exit", (code) => reject(new Error(`vchat dev exited ${code}: ${stderr}`)));
        createInterface({ input: child.stdout }).on("line", (line) => {
          const event = JSON.parse(line) as { event?: string; url: string };
          if (event.event === "ready") {
            clearTimeout(timer);
            resolve(event);
          }
        });
      });
      expect((await fetch(new URL("/healthz", ready.url))).status).toBe(200);
      expect(await (await fetch(ready.url)).text()).toMatch(/<div id="root">/);
    } finally {
      child.kill("SIGTERM");
      if (child.exitCode === null) await new Promise((r) => child.once("exit", r));
    }
  });
});

describe("the vchat binary (package.json bin)", () => {
  it("in a checkout runs the TypeScript sources, with or without a dist/ from an earlier npm pack", async () => {
    expect(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).bin).toEqual({ vchat: "bin/vchat.js" });
    // The real one, from this checkout: what `npx vchat` runs right after scripts/bootstrap.sh.
    expect((await run(process.execPath, [join(root, "bin", "vchat.js"), "--version"], { timeout: 30_000 })).stdout.trim()).toBe(version);
    // Which one it picks, in stand-in trees whose sources and dist/ say who they are.
    const base = mkdtempSync(join(tmpdir(), "vchat-bin-"));
    const tree = (at: string, parts: { sources: boolean; dist: boolean }) => {
      mkdirSync(join(at, "bin"), { recursive: true });
      copyFileSync(join(root, "bin", "vchat.js"), join(at, "bin", "vchat.js"));
      if (parts.sources) {
        mkdirSync(join(at, "cli"));
        writeFileSync(join(at, "cli", "vchat.ts"), 'console.log("sources");\n');
      }
      if (parts.dist) {
        mkdirSync(join(at, "dist", "cli"), { recursive: true });
        writeFileSync(join(at, "dist", "cli", "vchat.js"), 'console.log("dist");\n');
      }
      return async () => (await run(process.execPath, [join(at, "bin", "vchat.js")], { timeout: 30_000 })).stdout.trim();
    };
    try {
      expect(await tree(join(base, "checkout"), { sources: true, dist: true })()).toBe("sources");
      expect(await tree(join(base, "fresh-clone"), { sources: true, dist: false })()).toBe("sources");
      // Installed: Node strips no types under node_modules, so the compiled dist/ runs.
      expect(await tree(join(base, "node_modules", "vchat"), { sources: true, dist: true })()).toBe("dist");
      expect(await tree(join(base, "packed"), { sources: false, dist: true })()).toBe("dist");
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
