import { Command } from "commander";
import { parseBotsOptions, registerBots } from "../commands/bots.ts";

type RawBotsOptions = Parameters<typeof parseBotsOptions>[0];

/** What commander hands `vchat bots`'s action: the command's own defaults, then `given` (as the user typed them). */
export function rawBotsOptions(given: Partial<RawBotsOptions>): RawBotsOptions {
  const program = new Command();
  registerBots(program);
  const bots = program.commands.find((c) => c.name() === "bots")!;
  const defaults = Object.fromEntries(bots.options.filter((o) => o.defaultValue !== undefined).map((o) => [o.attributeName(), o.defaultValue as unknown]));
  return { ...defaults, ...given } as RawBotsOptions;
}
