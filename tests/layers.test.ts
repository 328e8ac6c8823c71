/**
 * The layering rule (`.dependency-cruiser.cjs`, run by `npm test` as `lint:layers`) bites: a
 * small tree with one wrong import per rule, cruised with the project's own configuration,
 * gives exactly the expected violations, and the allowed imports give none.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "..");
let dir: string;

/** Writes `files` (path → imports) into a fresh tree and returns the violations depcruise reports. */
function cruise(files: Record<string, string[]>): { rule: string; from: string }[] {
  for (const layer of ["protocol", "lib", "turn", "server", "doctor", "bots", "stacks", "cli", "web", "tests"]) rmSync(join(dir, layer), { recursive: true, force: true });
  for (const [path, imports] of Object.entries(files)) {
    const file = join(dir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, imports.map((i) => `import ${JSON.stringify(i)};\n`).join("") + "export const x = 1;\n");
  }
  const r = spawnSync(
    process.execPath,
    [join(root, "node_modules/dependency-cruiser/bin/dependency-cruiser.mjs"), "--config", join(root, ".dependency-cruiser.cjs"), "--output-type", "json", ...Object.keys(files)],
    { cwd: dir, encoding: "utf8", timeout: 60_000 },
  );
  if (r.error || !r.stdout) throw new Error(`depcruise failed: ${r.error?.message ?? r.stderr}`);
  const out = JSON.parse(r.stdout) as { summary: { violations: { rule: { name: string }; from: string }[] } };
  return out.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from }));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vchat-layers-"));
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", allowImportingTsExtensions: true, noEmit: true } }));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", devDependencies: { vitest: "*" } }));
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  "protocol/index.ts": [],
  "lib/ports.ts": [],
  "turn/urls.ts": [],
  "server/app.ts": [],
  "doctor/run.ts": [],
  "stacks/turn.ts": [],
  "web/src/client.ts": [],
  "cli/vchat.ts": [],
  "tests/support/client.ts": [],
};

describe("layering rule", () => {
  it("allows every import that runs down the layers", () => {
    expect(
      cruise({
        ...base,
        "turn/client.ts": ["../protocol/index.ts", "../lib/ports.ts", "./urls.ts"],
        "bots/bot.ts": ["../turn/urls.ts", "../protocol/index.ts"],
        "server/serve.ts": ["../turn/urls.ts", "./app.ts"],
        "cli/commands.ts": ["../server/app.ts", "../doctor/run.ts", "../bots/bot.ts", "../stacks/turn.ts"],
        "web/src/main.ts": ["../../protocol/index.ts", "./client.ts"],
        "tests/web.test.ts": ["../server/app.ts", "./support/client.ts", "vitest"],
      }),
    ).toEqual([]);
  });

  it.each([
    ["bots/bot.ts", "../doctor/run.ts", "services-use-only-lower-layers"],
    ["stacks/web.ts", "../server/app.ts", "services-use-only-lower-layers"],
    ["server/x.ts", "../cli/vchat.ts", "services-use-only-lower-layers"],
    ["turn/client.ts", "../server/app.ts", "turn-sits-on-protocol"],
    ["protocol/events.ts", "../turn/urls.ts", "protocol-imports-nothing-of-ours"],
    ["lib/x.ts", "../turn/urls.ts", "lib-imports-nothing-of-ours"],
    ["web/src/api.ts", "../../server/app.ts", "web-imports-only-protocol"],
    ["web/src/api.ts", "../../turn/urls.ts", "web-imports-only-protocol"],
    ["cli/vchat.ts", "../tests/support/client.ts", "cli-is-the-top"],
    ["server/serve.ts", "../tests/support/client.ts", "run-time-code-imports-no-test-code"],
    ["server/serve.ts", "vitest", "run-time-code-imports-no-dev-dependency"],
    ["server/serve.ts", "./gone.ts", "imports-resolve"],
  ])("%s importing %s breaks %s", (from, to, rule) => {
    const found = cruise({ ...base, [from]: [to] });
    expect(found.map((v) => v.rule)).toContain(rule);
    expect(found.every((v) => v.from === from)).toBe(true);
  });
});
