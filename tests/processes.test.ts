/** `diesWithParent` (lib/processes.ts): a child does not outlive its parent, with the signal asked for. */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, expect, it } from "vitest";
import { watchdog } from "../lib/processes.ts";
import { until } from "./support/crowd.ts";
import { alive } from "./support/process.ts";
import { describeIf } from "./support/skip.ts";

const processes = new URL("../lib/processes.ts", import.meta.url).pathname;

/** A child that notes a SIGTERM in `marker` before it exits, and prints its pid. */
const child = (marker: string) =>
  `process.on("SIGTERM", () => { require("node:fs").writeFileSync(${JSON.stringify(marker)}, "TERM"); process.exit(0); });` +
  `setInterval(() => {}, 1000); console.log(process.pid);`;

/** A parent that spawns `child` through diesWithParent and passes its output on. */
const parent = (marker: string, signal?: string) =>
  `import { spawn } from "node:child_process"; import { diesWithParent } from ${JSON.stringify(processes)};` +
  `spawn(...diesWithParent(process.execPath, ["-e", ${JSON.stringify(child(marker))}]${signal ? `, ${JSON.stringify(signal)}` : ""}), { stdio: "inherit" });` +
  `setInterval(() => {}, 1000);`;

/**
 * Starts the parent, waits for its child, kills the parent with SIGKILL and waits for the child
 * to be gone: the signal its SIGTERM handler noted, or null when none ran.
 */
async function orphanedBy(dir: string, signal?: string): Promise<string | null> {
  const marker = join(dir, "signal");
  const proc = spawn(process.execPath, ["--input-type=module", "-e", parent(marker, signal)], { stdio: ["ignore", "pipe", "inherit"] });
  const pid = Number(await new Promise<string>((resolve) => createInterface({ input: proc.stdout }).once("line", resolve)));
  proc.kill("SIGKILL");
  await until(
    () => !alive(pid),
    5000,
    () => `pid ${pid} outlived its parent`,
  );
  return existsSync(marker) ? readFileSync(marker, "utf8") : null;
}

describeIf(watchdog, "setpriv (util-linux) is not installed, so children cannot die with their parent")("diesWithParent", () => {
  let dir = "";
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "vchat-processes-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("kills the child with SIGKILL when its parent is killed with kill -9", async () => {
    expect(await orphanedBy(dir)).toBeNull(); // no SIGTERM handler ran
  });

  it("sends SIGTERM instead when asked, so the child can clean up", async () => {
    expect(await orphanedBy(dir, "TERM")).toBe("TERM");
  });
});
