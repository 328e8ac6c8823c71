import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { secretMinLength } from "./config.ts";
import type { Logger } from "./log.ts";

/** The secrets a local deployment (`vchat dev`, one node or several) generates for itself. */
export interface LocalSecrets {
  jwtSecret: string;
  turnSecret: string;
  /** Checks the operator's admin tokens (`vchat admin` reads it from this file). */
  adminSecret: string;
}

/** The state folder or a secrets file is not usable: `vchat dev` does not start. The message names the file. */
export class StateError extends Error {
  override name = "StateError";
}

/** `vchat dev`'s database when none is named; its folder is the one state folder ever created. */
export const defaultDb = ".vchat/vchat.db";

const minLength: Record<keyof LocalSecrets, number> = { jwtSecret: secretMinLength.jwt, turnSecret: secretMinLength.turn, adminSecret: secretMinLength.admin };

function freshSecrets(): LocalSecrets {
  return { jwtSecret: randomBytes(32).toString("base64url"), turnSecret: randomBytes(24).toString("hex"), adminSecret: randomBytes(32).toString("base64url") };
}

/**
 * Where `vchat dev` keeps what belongs to its database (secrets, the local coturn's
 * configuration): `stateDir` when given, which must exist (a folder a user named is never
 * created); else the database's folder, so the same database gets the same secrets from
 * wherever it is started. Only the default state folder (`.vchat`) is created. Null for an
 * in-memory database: nothing outlives the process.
 */
export function stateFolder(db: string, stateDir?: string): string | null {
  if (stateDir !== undefined) {
    if (!isFolder(stateDir)) throw new StateError(`the state folder ${stateDir} does not exist: create it, or leave --state-dir out to keep the state beside the database`);
    return stateDir;
  }
  if (db === ":memory:") return null;
  const folder = dirname(db);
  if (isFolder(folder)) return folder;
  if (resolve(db) === resolve(defaultDb) && isFolder(dirname(folder))) {
    mkdirSync(folder, { mode: 0o700 });
    return folder;
  }
  throw new StateError(`the database's folder ${folder} does not exist: create it, or name another --db`);
}

/**
 * The secrets kept in `<folder>/secrets.json` (mode 600), generated on first run so tokens
 * survive restarts; fresh ones when there is no folder. A file that cannot be used is an error
 * naming it, never replaced: every token signed with it would die. A file others can read is
 * a warning.
 */
export function localSecrets(folder: string | null, log?: Logger): LocalSecrets {
  if (folder === null) return freshSecrets();
  const file = join(folder, "secrets.json");
  if (!existsSync(file)) {
    const secrets = freshSecrets();
    // "wx": a file that appeared meanwhile (a second `vchat dev`) is an error, not overwritten.
    writeFileSync(file, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600, flag: "wx" });
    return secrets;
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) log?.warn({ file, mode: mode.toString(8) }, `${file} can be read by other users (mode ${mode.toString(8)}): it holds secrets; chmod 600 ${file}`);
  let saved: unknown;
  try {
    saved = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new StateError(`${file} cannot be read as JSON (${(err as Error).message}): fix it, or move it away to start with new secrets (every token signed with the old ones stops working)`);
  }
  const s = (saved ?? {}) as Partial<Record<keyof LocalSecrets, unknown>>;
  // A file from before the admin API: its admin secret is added, the others are kept as they are.
  if (s.adminSecret === undefined && typeof s.jwtSecret === "string" && typeof s.turnSecret === "string") {
    s.adminSecret = freshSecrets().adminSecret;
    writeFileSync(file, JSON.stringify(s, null, 2) + "\n", { mode: 0o600 });
  }
  const missing = Object.entries(minLength).filter(([k, min]) => typeof s[k as keyof LocalSecrets] !== "string" || (s[k as keyof LocalSecrets] as string).length < min);
  if (missing.length > 0) {
    const what = missing.map(([k, min]) => `${k} (at least ${min} characters)`).join(" and ");
    throw new StateError(`${file} lacks ${what}: fix it, or move it away to start with new secrets (every token signed with the old ones stops working)`);
  }
  return { jwtSecret: s.jwtSecret as string, turnSecret: s.turnSecret as string, adminSecret: s.adminSecret as string };
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The admin secret `vchat dev` keeps in `<folder>/secrets.json`, for `vchat admin` on the same
 * machine; null when there is none yet (the service never ran there).
 */
export function savedAdminSecret(folder: string): string | null {
  const file = join(folder, "secrets.json");
  if (!existsSync(file)) return null;
  let saved: unknown;
  try {
    saved = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new StateError(`${file} cannot be read as JSON (${(err as Error).message})`);
  }
  const secret = (saved as { adminSecret?: unknown } | null)?.adminSecret;
  return typeof secret === "string" ? secret : null;
}
