/**
 * docs/stacks.md walks a user from nothing to a working URL. Every command in its `sh` blocks is
 * accounted for here, as the page itself says: `vchat preview --offline` runs for real (Pulumi's
 * mocks); every other `vchat` line must parse with the real command line; `npm run` must name a
 * script; `pulumi config set` must name a key the program reads; other tools are the operator's.
 * A command of any other kind fails the test: the page would show something nobody checks.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Command } from "commander";
import { describe, expect, it } from "vitest";
import { buildProgram } from "../cli/program.ts";
import { configKeys } from "../stacks/config.ts";

const repo = join(import.meta.dirname, "..");
const doc = readFileSync(join(repo, "docs", "stacks.md"), "utf8");
const scripts = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;

/** Example values for the page's `<...>` placeholders. */
const examples: Record<string, string> = {
  webUrl: "https://d111111abcdef8.cloudfront.net",
  account: "123456789012",
  id: "0f1e2d3c",
  "Atlas organisation id": "5f0123456789abcdef012345",
};

/** Words of a shell line as the shell splits them: quotes group, `#` outside quotes starts a comment. */
function words(line: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (const c of line) {
    if (quote) {
      if (c === quote) quote = undefined;
      else word = (word ?? "") + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else if (c === "#" && word === undefined) break;
    else word = (word ?? "") + c;
  }
  if (word !== undefined) out.push(word);
  return out;
}

/** The simple commands of every `sh` block: `&&` and `|` split, placeholders filled. */
function docCommands(text: string): string[][] {
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split("\n"))
    .map((line) => line.replace(/<([^<>]+)>/g, (all, name: string) => examples[name] ?? all))
    .flatMap((line) => {
      const w = words(line);
      const commands: string[][] = [[]];
      for (const x of w) {
        if (x === "&&" || x === "|") commands.push([]);
        else commands.at(-1)!.push(x);
      }
      return commands.filter((c) => c.length > 0);
    });
}

/** Whether commander accepts argv as a `vchat` invocation; no command's action runs. */
async function parses(argv: string[]): Promise<string | undefined> {
  const program = buildProgram();
  const ran: string[] = [];
  const stub = (cmd: Command): void => {
    cmd.action(() => void ran.push(cmd.name()));
    cmd.commands.forEach(stub);
  };
  program.commands.forEach(stub);
  try {
    await program.parseAsync(["node", "vchat", ...argv]);
  } catch (err) {
    return (err as Error).message;
  }
  return ran.length === 1 ? undefined : `no command ran for: ${argv.join(" ")}`;
}

const commands = docCommands(doc);
const vchatArgs = (c: string[]) => (c[0] === "vchat" ? c.slice(1) : c[0] === "npx" && c[1] === "vchat" ? c.slice(2) : undefined);

describe("docs/stacks.md, command by command", () => {
  it("walks through up, outputs, doctor and bots against the web URL, and down", () => {
    const lines = commands.map((c) => c.join(" "));
    for (const step of [
      /^vchat up --env dev$/,
      /^vchat outputs --env dev$/,
      /^vchat doctor --url https:\/\/\S+cloudfront\.net$/,
      /^vchat bots --url https:\/\/\S+cloudfront\.net /,
      /^vchat down --env dev$/,
    ])
      expect(lines, String(step)).toContainEqual(expect.stringMatching(step));
    // Every placeholder has an example: nothing is left unparsed.
    expect(lines.filter((l) => /<[^>]+>/.test(l))).toEqual([]);
  });

  it("every vchat line is a valid invocation of the real command line", async () => {
    const invocations = commands.map(vchatArgs).filter((a): a is string[] => !!a);
    expect(invocations.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const argv of invocations) {
      const problem = await parses(argv);
      if (problem) problems.push(`vchat ${argv.join(" ")}: ${problem}`);
    }
    expect(problems).toEqual([]);
  });

  it("the offline previews it shows run here and pass", async () => {
    const offline = commands.map(vchatArgs).filter((a): a is string[] => !!a && a[0] === "preview" && a.includes("--offline"));
    expect(offline.length).toBeGreaterThan(0);
    for (const argv of offline) {
      const { stdout } = await promisify(execFile)(process.execPath, ["cli/vchat.ts", ...argv], {
        cwd: repo,
        env: { PATH: "/usr/bin:/bin", HOME: repo, NO_COLOR: "1" },
        maxBuffer: 64 * 1024 * 1024,
      });
      if (argv.includes("--json")) expect(JSON.parse(stdout)).toMatchObject({ ok: true, offline: true, violations: [] });
      else expect(stdout).toMatch(/security rules: all passed/);
    }
  }, 120_000);

  it("npm lines name scripts of package.json; pulumi config lines name keys the program reads; nothing else goes unchecked", () => {
    const external = new Set(["pulumi", "export", "aws", "docker"]);
    const unaccounted: string[] = [];
    for (const c of commands) {
      if (vchatArgs(c)) continue;
      if (c[0] === "npm") {
        if (c[1] === "run") expect(Object.keys(scripts), c.join(" ")).toContain(c[2]);
        else expect(["ci", "install"], c.join(" ")).toContain(c[1]);
        continue;
      }
      if (c[0] === "pulumi" && c.includes("config") && c.includes("set")) {
        const key = c.find((w) => w.startsWith("vchat:"));
        expect(configKeys as readonly string[], c.join(" ")).toContain(key?.slice("vchat:".length));
        continue;
      }
      if (!external.has(c[0]!)) unaccounted.push(c.join(" "));
    }
    expect(unaccounted).toEqual([]);
  });

  it("links nowhere outside the repository", () => {
    const links = [...doc.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]!);
    for (const link of links) {
      expect(link, link).not.toMatch(/^[a-z]+:/);
      expect(existsSync(join(repo, "docs", link.split("#")[0]!)), link).toBe(true);
    }
    // Bare URLs only name example or local hosts.
    const urls = [...doc.matchAll(/\bhttps?:\/\/[^\s`)]+/g)].map((m) => m[0]);
    expect(urls.filter((u) => !/^https?:\/\/(localhost|127\.0\.0\.1|[\w.-]*example\.(org|com))([:/]|$)/.test(u))).toEqual([]);
  });
});
