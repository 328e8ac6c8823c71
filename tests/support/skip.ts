/**
 * Tests that need something absent (a program, a server) skip and say so, once per file and
 * reason, instead of passing silently.
 */
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const said = new Set<string>();

function notice(reason: string): void {
  // The caller's caller is the test file: its path names what was skipped.
  const frame = new Error().stack?.split("\n")[3] ?? "";
  const file = /\((?:file:\/\/)?([^)]+?):\d+:\d+\)$|at (?:file:\/\/)?(\S+?):\d+:\d+$/.exec(frame.trim());
  const where = file ? relative(root, file[1] ?? file[2]!) : "a test";
  const line = `[skipped] ${where}: ${reason}`;
  if (said.has(line)) return;
  said.add(line);
  console.warn(line);
}

/**
 * `describe` when `ready`; otherwise skipped, with one line saying which file skipped and why.
 * @example describeIf(coturnInstalled(), "turnserver (coturn) is not installed")("TURN client", () => { ... });
 */
export function describeIf(ready: boolean, reason: string): ReturnType<typeof describe.skipIf> {
  if (!ready) notice(reason);
  return describe.skipIf(!ready);
}

/** `it` when `ready`; otherwise skipped, saying why (see `describeIf`). */
export function itIf(ready: boolean, reason: string): ReturnType<typeof it.skipIf> {
  if (!ready) notice(reason);
  return it.skipIf(!ready);
}
