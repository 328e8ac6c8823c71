import type { Command } from "commander";
import { addContext, loadContexts, useContext } from "../contexts.ts";

export function registerContext(program: Command): void {
  const ctx = program.command("context").description("saved targets: commands use the current one when --url is not given");
  ctx
    .command("add")
    .description("save a target (the first one saved becomes current)")
    .argument("<name>")
    .option("--url <url>", "the deployment's base URL")
    .option("--turn <url>", "a bare TURN URL for vchat doctor (repeatable)", (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .option("--secret-file <file>", "a file holding the TURN REST secret (the secret is not copied)")
    .action((name: string, o: { url?: string; turn?: string[]; secretFile?: string }) => {
      const file = addContext(name, { url: o.url, turn: o.turn, secretFile: o.secretFile });
      process.stdout.write(`context ${name} saved in ${file}\n`);
    });
  ctx
    .command("use")
    .description("make a saved target the current one")
    .argument("<name>")
    .action((name: string) => {
      useContext(name);
      process.stdout.write(`current context: ${name}\n`);
    });
  ctx
    .command("ls")
    .description("list saved targets; * marks the current one")
    .option("--json", "print JSON for machines", false)
    .action((o: { json: boolean }) => {
      const all = loadContexts();
      if (o.json) return void process.stdout.write(JSON.stringify({ ok: true, ...all }) + "\n");
      const rows = Object.entries(all.contexts).map(
        ([n, c]) => `${n === all.current ? "*" : " "} ${n}  ${c.url ?? (c.turn ?? []).join(" ")}${c.secretFile ? `  (secret from ${c.secretFile})` : ""}`,
      );
      process.stdout.write(rows.length ? rows.join("\n") + "\n" : "no contexts: vchat context add NAME --url URL\n");
    });
}
