/**
 * A stand-in `pulumi` binary for the engine tests (the real CLI cannot be installed here): a
 * shell script that records its arguments, answers what the Automation API asks before an
 * action (version, stack select, config), and fails `up`, `preview` and `destroy` the way the
 * real one does. Anything else it was not written for exits 2, naming it.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface FakePulumiOptions {
  /** What `pulumi config --show-secrets` prints (JSON). */
  config: string;
  /** What `up`, `preview` and `destroy` print on stderr before failing. */
  failure?: string;
  /** Whether `stack select` finds the stack; unset: when VCHAT_FAKE_STACK_EXISTS is set in the environment. */
  stackExists?: boolean;
}

export interface FakePulumi {
  /** Its root: the binary is `<root>/bin/pulumi`. */
  root: string;
  /** The argument lines it was called with, in order. */
  calls(): string[];
  remove(): void;
}

export function fakePulumi(o: FakePulumiOptions): FakePulumi {
  const root = mkdtempSync(join(tmpdir(), "vchat-fake-pulumi-"));
  mkdirSync(join(root, "bin"));
  const log = join(root, "calls.log");
  const stackExists = o.stackExists === undefined ? `[ -n "$VCHAT_FAKE_STACK_EXISTS" ]` : o.stackExists ? "true" : "false";
  writeFileSync(
    join(root, "bin", "pulumi"),
    `#!/bin/sh
echo "$*" >> '${log}'
case "$1 $2" in
  "version "*) echo "v3.276.0"; exit 0;;
  "stack select") ${stackExists} && exit 0; echo "error: no stack named '$4' found" >&2; exit 255;;
  "stack init") exit 0;;
  "config --show-secrets") echo '${o.config}'; exit 0;;
  "config set") exit 0;;
esac
case "$1" in
  up|preview|destroy) echo "${o.failure ?? "error: something else"}" >&2; exit 255;;
esac
echo "unexpected: $*" >&2
exit 2
`,
  );
  chmodSync(join(root, "bin", "pulumi"), 0o755);
  return {
    root,
    calls: () => readFileSync(log, "utf8").trim().split("\n"),
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
