import type { Command } from "commander";
import { versions } from "../version.ts";

export function registerVersion(program: Command): void {
  program
    .command("version")
    .description("print the versions of vchat, Node, werift and coturn (what a bug report needs)")
    .option("--json", "print JSON for machines", false)
    .action(async (opts: { json: boolean }) => {
      const v = await versions();
      process.stdout.write(
        opts.json
          ? JSON.stringify({ ok: true, ...v }) + "\n"
          : `vchat   ${v.vchat}\nnode    ${v.node}\nwerift  ${v.werift ?? "not found"}\ncoturn  ${v.coturn ?? "not installed (turnserver not on PATH)"}\n`,
      );
    });
}
