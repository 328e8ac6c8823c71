import { Command, CommanderError } from "commander";
import { registerBots } from "./commands/bots.ts";
import { registerDev } from "./commands/dev.ts";
import { registerDoctor } from "./commands/doctor.ts";
import { registerServe } from "./commands/serve.ts";
import { registerStacks } from "./commands/stacks.ts";
import { CliError, describeSystemError, exitCodes } from "./exit.ts";

/** Builds the `vchat` program. Commands only parse options and call plain async functions. */
export function buildProgram(): Command {
  const program = new Command("vchat")
    .description("1:1 random video chat: run the service, soak-test it, diagnose TURN, deploy it")
    .version(process.env.npm_package_version ?? "0.1.0")
    .showSuggestionAfterError()
    // Errors are printed by `run`, as one line (never the whole help).
    .configureOutput({ outputError: () => {} })
    .exitOverride();
  registerDev(program);
  registerServe(program);
  registerBots(program);
  registerDoctor(program);
  registerStacks(program);
  // Subcommands inherit neither the output nor the exit override from their parent.
  for (const cmd of program.commands) cmd.configureOutput({ outputError: () => {} }).exitOverride().showSuggestionAfterError();
  return program;
}

/** The one error line, its stable code and exit code, for anything a command threw. */
export function describeError(err: unknown, argv: string[]): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof CommanderError) {
    // "error: unknown option '--frob'" → "unknown option '--frob' (see vchat bots --help)"
    const sub = argv.slice(2).find((a) => !a.startsWith("-"));
    const help = sub && buildProgram().commands.some((c) => c.name() === sub) ? `vchat ${sub} --help` : "vchat --help";
    return new CliError("USAGE", `${err.message.replace(/^error: /, "").replace(/\n/g, " ")} (see ${help})`, exitCodes.usage);
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") {
    return describeSystemError(err as NodeJS.ErrnoException) ?? new CliError(/^[A-Z][A-Z_]+$/.test(code) ? code : "FAILED", (err as Error).message.split("\n")[0]!);
  }
  return new CliError("FAILED", String((err as Error)?.message ?? err).split("\n")[0]!);
}

/** `--json` anywhere before `--`: failures are then a JSON document on stdout too. */
export const wantsJson = (argv: string[]) => {
  const end = argv.indexOf("--");
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === "--json" || a.startsWith("--json="));
};

/**
 * Parses argv and runs the command. Resolves to the process exit code: 0 on success, 1 when
 * what the command checks fails, 2 on usage errors, 130 when interrupted by Ctrl-C.
 */
export async function run(argv: string[], io: { stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } } = process): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : exitCodes.ok;
  } catch (err) {
    if (err instanceof CommanderError && ["commander.helpDisplayed", "commander.version", "commander.help"].includes(err.code)) return exitCodes.ok;
    const e = describeError(err, argv);
    io.stderr.write(`vchat: ${e.code}: ${e.message}\n`);
    // `--json FILE` (bots) still prints its failure on stdout: scripts read one place.
    if (wantsJson(argv)) io.stdout.write(JSON.stringify({ ok: false, error: { code: e.code, message: e.message } }) + "\n");
    return e.exitCode;
  }
}
