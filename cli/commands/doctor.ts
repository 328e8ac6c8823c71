import type { Command } from "commander";

// Placeholder until its issue lands: the command exists and says so.
export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("not available yet")
    .allowUnknownOption()
    .action(() => {
      throw new Error("vchat doctor is not available yet");
    });
}
