import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { arrayBufferSweepFlag, heapGrowingPercent } from "./heap.ts";

const heap = new URL("./heap.ts", import.meta.url).pathname;

/**
 * A process that builds a live heap of ~100 MB and runs two full GCs, with or without
 * `tuneHeaps()`; V8's own trace (`--trace-gc-nvp`) says what old-generation limit the last one set.
 */
function lastFullGc(tune: boolean): { live: number; limit: number; stderr: string } {
  const script =
    `import { tuneHeaps } from ${JSON.stringify(heap)};` +
    (tune ? "tuneHeaps();" : "") +
    "const live = []; for (let i = 0; i < 1_000_000; i++) live.push({ a: i, b: [i] });" +
    "gc(); gc(); console.log(live.length);";
  const r = spawnSync(process.execPath, ["--trace-gc-nvp", "--expose-gc", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  const line =
    r.stdout
      .split("\n")
      .filter((l) => l.includes("gc=mc"))
      .at(-1) ?? "";
  const field = (name: string) => Number(new RegExp(`\\b${name}=(\\d+)`).exec(line)?.[1]);
  return { live: field("end_object_size"), limit: field("old_gen_allocation_limit"), stderr: r.stderr };
}

describe("tuneHeaps", () => {
  it("makes V8 grow the old generation by a fixed factor: the limit after a full GC is twice the live heap", () => {
    const tuned = lastFullGc(true);
    const plain = lastFullGc(false);
    console.log(
      `old-generation limit / live heap after a full GC: ${(tuned.limit / tuned.live).toFixed(2)} tuned, ${(plain.limit / plain.live).toFixed(2)} with V8's own factor`,
    );
    // A V8 that no longer knows the flag says so and ignores it.
    expect(tuned.stderr).not.toMatch(/unrecognized flag/);
    expect(tuned.live).toBeGreaterThan(50e6);
    // 1 + heapGrowingPercent / 100, plus V8's slack on top of it.
    const factor = 1 + heapGrowingPercent / 100;
    expect(tuned.limit / tuned.live).toBeGreaterThanOrEqual(factor * 0.95);
    expect(tuned.limit / tuned.live).toBeLessThanOrEqual(factor * 1.3);
  }, 120_000);

  it("has dead buffers freed by the thread that made them: a flag this V8 knows and takes at run time", () => {
    // Which thread frees a buffer's memory is not visible from JavaScript (V8's GC trace times the
    // sweep alike with and without the flag in a loop of dead buffers): its effect is measured by
    // bench/bots-ab (heap.ts). This fails when V8 no longer has the flag or refuses it.
    const name = arrayBufferSweepFlag.replace(/^--no-/, "--");
    const options = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8", timeout: 30_000 }).stdout;
    expect(options).toContain(`${name} (concurrently sweep array buffers)`);
    const script = `import { tuneHeaps } from ${JSON.stringify(heap)}; tuneHeaps(); new ArrayBuffer(1100); console.log("ok");`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe("ok");
    // What V8 prints for a flag it does not know (v8.setFlagsFromString does not throw).
    expect(r.stderr).not.toMatch(/unrecognized flag/);
  }, 60_000);
});
