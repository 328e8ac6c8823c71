import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, expect, it } from "vitest";
import { coturnInstalled, startCoturn } from "./coturn-process.ts";
import { until } from "../tests/support/crowd.ts";
import { alive } from "../tests/support/process.ts";
import { describeIf } from "../tests/support/skip.ts";

const hasCoturn = coturnInstalled();

describeIf(hasCoturn, "coturn (turnserver) is not installed")("startCoturn", () => {
  let dir = "";
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("takes its folder (which holds the secret) and its coturn along when the process exits without stop()", async () => {
    dir = mkdtempSync(join(tmpdir(), "vchat-coturn-exit-"));
    const folder = join(dir, "coturn");
    const module = new URL("./coturn-process.ts", import.meta.url).pathname;
    // What a second Ctrl-C does to `vchat dev`: process.exit() in the middle of its work.
    const script =
      `import { startCoturn } from ${JSON.stringify(module)};` +
      `const turn = await startCoturn({ dir: ${JSON.stringify(folder)} });` +
      `console.log(turn.process.pid); setTimeout(() => process.exit(3), 200);`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    const pid = Number(await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once("line", resolve)));
    expect(existsSync(join(folder, "turnserver.conf"))).toBe(true);
    expect(await exited).toBe(3);
    expect(existsSync(folder)).toBe(false);
    await until(
      () => !alive(pid),
      5000,
      () => `coturn (pid ${pid}) outlived its owner`,
    );
  }, 30_000);

  it("leaves no exit hook behind once stopped", async () => {
    const before = process.listenerCount("exit");
    const turn = await startCoturn();
    expect(process.listenerCount("exit")).toBe(before + 1);
    await turn.stop();
    expect(process.listenerCount("exit")).toBe(before);
  }, 30_000);
});
