import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

export interface NodeProcess {
  url: string;
  nodeId: string;
  /** The JSON start line, as printed. */
  start: Record<string, unknown>;
  proc: ChildProcess;
  /** What the node wrote to stderr so far (its log). */
  log(): string;
  /** SIGTERM (a graceful stop), SIGKILL after 5 s; resolves once it exited. */
  stop(): Promise<void>;
}

const cli = join(import.meta.dirname, "../../cli/vchat.ts");

export interface ServeProcessOptions {
  /** The program and arguments up to and including `serve`. @default this checkout's `node cli/vchat.ts serve` */
  command?: string[];
  cwd?: string;
  uid?: number;
  gid?: number;
}

/**
 * `vchat serve --json` in a child process of its own, as in production, on 127.0.0.1 and a free
 * port; resolves on its JSON start line, rejects with its exit code and stderr when it exits first.
 * Only PATH and `env` reach it.
 */
export function serveProcess(args: string[], env: Record<string, string>, opts: ServeProcessOptions = {}): Promise<NodeProcess> {
  const [program, ...before] = opts.command ?? [process.execPath, cli, "serve"];
  const proc = spawn(program!, [...before, "--host", "127.0.0.1", "--port", "0", "--json", ...args], {
    env: { PATH: process.env.PATH, VCHAT_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    cwd: opts.cwd,
    uid: opts.uid,
    gid: opts.gid,
  });
  let stderr = "";
  proc.stderr.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once("exit", () => resolve());
      proc.kill("SIGTERM");
      setTimeout(() => proc.kill("SIGKILL"), 5000).unref();
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`vchat serve did not start within 60 s:\n${stderr}`));
    }, 60_000);
    proc.once("exit", (code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`vchat serve exited with ${code}:\n${stderr}`), { code, stderr }));
    });
    createInterface({ input: proc.stdout }).once("line", (line) => {
      const start = JSON.parse(line) as { url?: string; nodeId: string };
      // A failure document ({ok: false, error}) instead of the start line: the exit handler rejects with why.
      if (typeof start.url !== "string") return;
      clearTimeout(timer);
      resolve({ url: start.url.replace(/\/$/, ""), nodeId: start.nodeId, start, proc, log: () => stderr, stop });
    });
  });
}
