/**
 * `vchat completion bash|zsh|fish`: a completion script built from the program itself, so it
 * never lags behind the commands and options. Load with e.g. `source <(vchat completion bash)`.
 */
import type { Command } from "commander";
import { UsageError } from "../exit.ts";

export const shells = ["bash", "zsh", "fish"] as const;
type Shell = (typeof shells)[number];

interface Spec {
  name: string;
  description: string;
  options: { long: string; description: string }[];
}

function specOf(program: Command): Spec[] {
  const global = program.options.filter((o) => o.long && !o.hidden).map((o) => ({ long: o.long!, description: o.description }));
  return program.commands.map((c) => ({
    name: c.name(),
    description: c.description(),
    options: [
      ...c.options.filter((o) => o.long && !o.hidden).map((o) => ({ long: o.long!, description: o.description })),
      ...global,
      { long: "--help", description: "show help" },
    ],
  }));
}

const words = (list: string[]) => list.join(" ");
const fishQuote = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

function bash(spec: Spec[]): string {
  const cases = spec.map((c) => `    ${c.name}) opts="${words(c.options.map((o) => o.long))}" ;;`).join("\n");
  return `# vchat completion for bash: source <(vchat completion bash)
_vchat() {
  local cur=\${COMP_WORDS[COMP_CWORD]} opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${words(spec.map((c) => c.name))}" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases}
    *) opts="" ;;
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "$opts" -- "$cur")); else COMPREPLY=($(compgen -f -- "$cur")); fi
}
complete -F _vchat vchat
`;
}

function fish(spec: Spec[]): string {
  const lines = ["# vchat completion for fish: vchat completion fish | source", "complete -c vchat -f"];
  for (const c of spec) {
    lines.push(`complete -c vchat -n __fish_use_subcommand -a ${c.name} -d ${fishQuote(c.description.slice(0, 80))}`);
    for (const o of c.options)
      lines.push(`complete -c vchat -n '__fish_seen_subcommand_from ${c.name}' -l ${o.long.slice(2)} -d ${fishQuote(o.description.slice(0, 80))}`);
  }
  return lines.join("\n") + "\n";
}

export function completionScript(program: Command, shell: Shell): string {
  const spec = specOf(program);
  if (shell === "fish") return fish(spec);
  // zsh runs the bash function through its bash compatibility layer.
  if (shell === "zsh") return `# vchat completion for zsh: source <(vchat completion zsh)\nautoload -U +X bashcompinit && bashcompinit\n${bash(spec)}`;
  return bash(spec);
}

export function registerCompletion(program: Command): void {
  program
    .command("completion")
    .description("print a shell completion script: source <(vchat completion bash)")
    .argument("<shell>", "bash | zsh | fish")
    .action((shell: string) => {
      if (!(shells as readonly string[]).includes(shell)) throw new UsageError(`shell must be one of ${shells.join(", ")}, got "${shell}"`);
      process.stdout.write(completionScript(program, shell as Shell));
    });
}
