import { execFile } from "node:child_process";
import { join } from "node:path";

const repo = join(import.meta.dirname, "../..");

/** `vchat <args> --json` in a child process, as a user runs it: its exit code and parsed output (null when not JSON; stdout then ends stderr). */
export function vchatJson<T>(args: string[], timeoutMs: number): Promise<{ code: number; out: T | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["cli/vchat.ts", ...args, "--json"], { cwd: repo, timeout: timeoutMs, maxBuffer: 20_000_000 }, (err, stdout, stderr) => {
      let out: T | null = null;
      try {
        out = JSON.parse(stdout) as T;
      } catch {
        // Reported by the caller's assertions, with stderr.
      }
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, out, stderr: stderr + (out ? "" : `\nstdout: ${stdout.slice(0, 2000)}`) });
    });
  });
}
