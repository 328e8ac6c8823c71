import { Command, CommanderError } from "commander";
import { registerAdmin } from "./commands/admin.ts";
import { registerBots } from "./commands/bots.ts";
import { registerDev } from "./commands/dev.ts";
import { registerDoctor } from "./commands/doctor.ts";
import { registerServe } from "./commands/serve.ts";
import { registerStacks } from "./commands/stacks.ts";
import { exitCodes, UsageError } from "./exit.ts";

/** Builds the `vchat` program. Commands only parse options and call plain async functions. */
export function buildProgram(): Command {
  const program = new Command("vchat")
    .description("1:1 random video chat: run the service, soak-test it, diagnose TURN, deploy it")
    .version(process.env.npm_package_version ?? "0.1.0")
    .showHelpAfterError()
    .exitOverride();
  registerDev(program);
  registerServe(program);
  registerBots(program);
  registerDoctor(program);
  registerStacks(program);
  registerAdmin(program);
  return program;
}

/**
 * Parses argv and runs the command. Resolves to the process exit code: 0 on success, 1 when
 * what the command checks fails, 2 on usage errors.
 */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : exitCodes.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.code === "commander.help") {
        return exitCodes.ok;
      }
      return exitCodes.usage;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`vchat: ${err.message}\n`);
      return exitCodes.usage;
    }
    process.stderr.write(`vchat: ${(err as Error).message}\n`);
    return exitCodes.failed;
  }
}
