import type { Command } from "commander";

export function registerDev(program: Command): void {
  program.command("dev").action(() => {
    throw new Error("vchat dev is not available yet");
  });
}
