import type { Command } from "commander";

// Placeholder until its issue lands: the command exists and says so.
export function registerBots(program: Command): void {
  program
    .command("bots")
    .description("not available yet")
    .allowUnknownOption()
    .action(() => {
      throw new Error("vchat bots is not available yet");
    });
}
