import { spawnSync } from "node:child_process";

/** Whether `setpriv` can ask the kernel to kill a child when its parent dies (util-linux, Linux). */
export const watchdog = spawnSync("sh", ["-c", "command -v setpriv"], { stdio: "ignore" }).status === 0;

/**
 * The command and arguments that run `command` so that it dies with this process, even on
 * `kill -9`: the kernel sends it `signal` when its parent dies (PR_SET_PDEATHSIG, kept across
 * setpriv's exec, so the child's pid is the command's). SIGKILL by default; SIGTERM for a child
 * that cleans up after itself (a `vchat dev` stops its coturn). Unchanged where setpriv is missing.
 *
 * @example
 * spawn(...diesWithParent("turnserver", ["-c", configFile]), { stdio: "pipe" });
 */
export function diesWithParent(command: string, args: string[], signal: "KILL" | "TERM" = "KILL"): [string, string[]] {
  return watchdog ? ["setpriv", ["--pdeathsig", signal, "--", command, ...args]] : [command, args];
}
