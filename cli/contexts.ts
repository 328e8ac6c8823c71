/**
 * Saved targets, as kubectl's contexts: `vchat context add prod --url https://chat.example.com`
 * once, then `vchat bots` and `vchat doctor` use the current context when `--url` is not given.
 * Kept in `$XDG_CONFIG_HOME/vchat/contexts.json` (default `~/.config/vchat`), mode 600.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { CliError, UsageError } from "./exit.ts";

const context = z.object({
  url: z.string().url().optional(),
  turn: z.array(z.string()).optional(),
  /** A file holding the TURN REST secret: the secret itself is never stored here. */
  secretFile: z.string().optional(),
});
export type Context = z.infer<typeof context>;

const contextsFile = z.object({ current: z.string().nullable(), contexts: z.record(z.string(), context) });
export type Contexts = z.infer<typeof contextsFile>;

export const configDir = (env: NodeJS.ProcessEnv = process.env) => join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "vchat");
const fileOf = (env: NodeJS.ProcessEnv) => join(configDir(env), "contexts.json");

export function loadContexts(env: NodeJS.ProcessEnv = process.env): Contexts {
  const file = fileOf(env);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { current: null, contexts: {} };
    throw err;
  }
  const parsed = contextsFile.safeParse(JSON.parse(text));
  if (!parsed.success) throw new CliError("BAD_CONFIG", `${file} is not a vchat contexts file (${parsed.error.issues[0]?.message}); fix or remove it`);
  return parsed.data;
}

export function saveContexts(all: Contexts, env: NodeJS.ProcessEnv = process.env): string {
  const dir = configDir(env);
  // The user's own config folder: creating it is expected (as kubectl and gh do).
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = fileOf(env);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(all, null, 2) + "\n", { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

const names = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function addContext(name: string, ctx: Context, env: NodeJS.ProcessEnv = process.env): string {
  if (!names.test(name)) throw new UsageError(`context names are letters, digits, ".", "_", "-", got "${name}"`);
  const parsed = context.safeParse(ctx);
  if (!parsed.success) throw new UsageError(`context ${name}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  if (!ctx.url && !ctx.turn?.length) throw new UsageError("a context needs --url or --turn");
  const all = loadContexts(env);
  all.contexts[name] = parsed.data;
  all.current ??= name;
  return saveContexts(all, env);
}

export function useContext(name: string, env: NodeJS.ProcessEnv = process.env): void {
  const all = loadContexts(env);
  if (!all.contexts[name])
    throw new UsageError(`no context "${name}" (have: ${Object.keys(all.contexts).join(", ") || "none; add one with vchat context add"})`);
  saveContexts({ ...all, current: name }, env);
}

/** The named context, else the current one, else none. A name that does not exist is a usage error. */
export function resolveContext(name: string | undefined, env: NodeJS.ProcessEnv = process.env): (Context & { name: string }) | null {
  const all = loadContexts(env);
  const chosen = name ?? all.current;
  if (!chosen) return null;
  const ctx = all.contexts[chosen];
  if (!ctx) {
    if (name) throw new UsageError(`no context "${name}" (have: ${Object.keys(all.contexts).join(", ") || "none"})`);
    return null;
  }
  return { name: chosen, ...ctx };
}
