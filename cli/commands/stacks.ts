import type { Command } from "commander";

// Placeholder until its issue lands: the command exists and says so.
export function registerStacks(program: Command): void {
  program
    .command("stacks")
    .description("not available yet")
    .allowUnknownOption()
    .action(() => {
      throw new Error("vchat stacks is not available yet");
    });
}
