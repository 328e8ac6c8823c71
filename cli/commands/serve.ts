import type { Command } from "commander";

export function registerServe(program: Command): void {
  program.command("serve").action(() => {
    throw new Error("vchat serve is not available yet");
  });
}
