/**
 * The `vchat` binary on a pseudo-terminal made by util-linux `script`, as in an operator's shell:
 * Ctrl-C is the byte 0x03 typed on the terminal, turned into SIGINT by the terminal driver.
 */
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";

const cli = join(import.meta.dirname, "..", "..", "cli", "vchat.ts");

export const hasScript = spawnSync("script", ["--version"]).status === 0;

/** The environment without CI (which the suite has in CI): on a user's terminal ink draws live frames and colours are on. */
export function withoutCi(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { CI: _ci, ...rest } = env;
  return rest;
}

export interface TerminalRun {
  /** Everything the terminal showed so far, escapes included. */
  screen(): string;
  /** Resolves once the screen matches, rejects after `timeoutMs` with the screen. */
  until(pattern: RegExp, timeoutMs?: number): Promise<void>;
  ctrlC(): void;
  /** `script -e` exits with the command's code. */
  exit: Promise<number | null>;
  kill(): void;
}

export function onTerminal(args: string[], env: Record<string, string> = {}): TerminalRun {
  // `exec`: script runs the command through $SHELL, and dash (CI's /bin/sh) would stay as the parent,
  // take the same Ctrl-C and exit 130 whatever vchat returned.
  const command = "exec " + [process.execPath, cli, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...withoutCi(process.env), COLUMNS: "120", LINES: "40", ...env },
  });
  let screen = "";
  const waiters = new Set<() => void>();
  const take = (d: Buffer) => {
    screen += d.toString();
    for (const w of waiters) w();
  };
  child.stdout.on("data", take);
  child.stderr.on("data", take);
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    screen: () => screen,
    until(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!pattern.test(screen)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the terminal never showed ${pattern}:\n${screen.slice(-3000)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    ctrlC: () => child.stdin.write("\x03"),
    exit,
    kill: () => child.kill("SIGKILL"),
  };
}
