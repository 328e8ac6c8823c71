import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { registerAdmin } from "./commands/admin.ts";
import { registerBots } from "./commands/bots.ts";
import { registerCompletion } from "./commands/completion.ts";
import { registerContext } from "./commands/context.ts";
import { registerVersion } from "./commands/version.ts";
import { resolveContext } from "./contexts.ts";
import { registerDev } from "./commands/dev.ts";
import { registerDoctor } from "./commands/doctor.ts";
import { registerServe } from "./commands/serve.ts";
import { registerStacks } from "./commands/stacks.ts";
import { CliError, describeSystemError, exitCodes } from "./exit.ts";
import { vchatVersion } from "./version.ts";

export const logLevels = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

interface GlobalOptions {
  context?: string;
  color: "auto" | "always" | "never";
  verbose?: boolean;
  logLevel?: string;
}

/**
 * Before any command runs: colours (`NO_COLOR`, `--color`) and log level reach ink and the server
 * through the environment they read; a command that takes `--url` and got none uses the context.
 */
function beforeAction(program: Command, action: Command): void {
  const g = program.opts<GlobalOptions>();
  if (g.color === "never" || (g.color === "auto" && process.env.NO_COLOR)) process.env.FORCE_COLOR = "0";
  if (g.color === "always") process.env.FORCE_COLOR = "1";
  const level = g.logLevel ?? (g.verbose ? "debug" : undefined);
  if (level) process.env.VCHAT_LOG_LEVEL = level;
  if (!action.options.some((o) => o.long === "--url") || action.getOptionValue("url") !== undefined) return;
  if (action.options.some((o) => o.long === "--turn") && action.getOptionValue("turn") !== undefined) return;
  const ctx = resolveContext(g.context);
  if (!ctx) return;
  if (ctx.url) return void action.setOptionValueWithSource("url", ctx.url, "config");
  // A context of bare TURN servers (doctor only).
  if (ctx.turn?.length && action.options.some((o) => o.long === "--turn")) {
    action.setOptionValueWithSource("turn", ctx.turn, "config");
    if (ctx.secretFile && action.getOptionValue("secret") === undefined) {
      let secret: string;
      try {
        secret = readFileSync(ctx.secretFile, "utf8").trim();
      } catch (err) {
        throw new CliError("BAD_CONFIG", `context ${ctx.name}: cannot read its secret file ${ctx.secretFile} (${(err as NodeJS.ErrnoException).code})`);
      }
      action.setOptionValueWithSource("secret", secret, "config");
    }
  }
}

/** Builds the `vchat` program. Commands only parse options and call plain async functions. */
export function buildProgram(): Command {
  const program = new Command("vchat")
    .description("1:1 random video chat: run the service, soak-test it, diagnose TURN, deploy it")
    .version(vchatVersion)
    .option("--context <name>", "use this saved target (vchat context ls) instead of the current one")
    .addOption(
      new Option("--color <when>", "colours: auto (off with NO_COLOR or without a terminal), always, never")
        .choices(["auto", "always", "never"])
        .default("auto"),
    )
    .option("-v, --verbose", "long-running commands log more (the same as --log-level debug)")
    .addOption(new Option("--log-level <level>", "log level of long-running commands").choices(logLevels))
    .showSuggestionAfterError()
    .configureHelp({ showGlobalOptions: true })
    .hook("preAction", (_, action) => beforeAction(program, action));
  registerDev(program);
  registerServe(program);
  registerBots(program);
  registerDoctor(program);
  registerStacks(program);
  registerAdmin(program);
  registerContext(program);
  registerVersion(program);
  registerCompletion(program);
  // Errors are printed by `run`, as one line (never the whole help); commands made before
  // these calls do not inherit them, so every command gets them here.
  const quiet = (cmd: Command): void => {
    cmd
      .configureOutput({ outputError: () => {} })
      .exitOverride()
      .showSuggestionAfterError();
    cmd.commands.forEach(quiet);
  };
  quiet(program);
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
    return (
      describeSystemError(err as NodeJS.ErrnoException) ?? new CliError(/^[A-Z][A-Z_]+$/.test(code) ? code : "FAILED", (err as Error).message.split("\n")[0]!)
    );
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
