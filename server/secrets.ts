import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The secrets a local deployment (`vchat dev`, one node or several) generates for itself. */
export interface LocalSecrets {
  jwtSecret: string;
  turnSecret: string;
  /** Checks the operator's admin tokens (`vchat admin token` reads it from this file). */
  adminSecret: string;
}

export function freshSecrets(): LocalSecrets {
  return { jwtSecret: randomBytes(32).toString("base64url"), turnSecret: randomBytes(24).toString("hex"), adminSecret: randomBytes(32).toString("base64url") };
}

/**
 * The secrets for a database: fresh ones for `:memory:`, otherwise generated on first run and
 * kept in `<stateDir>/secrets.json` (mode 600), so tokens survive restarts.
 */
export function localSecrets(db: string, stateDir: string): LocalSecrets {
  if (db === ":memory:") return freshSecrets();
  const file = join(stateDir, "secrets.json");
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, "utf8")) as Partial<LocalSecrets>;
    if (saved.jwtSecret && saved.turnSecret) {
      if (saved.adminSecret) return { jwtSecret: saved.jwtSecret, turnSecret: saved.turnSecret, adminSecret: saved.adminSecret };
      // A file from before the admin API: the admin secret is added, the others are kept.
      return save(file, { jwtSecret: saved.jwtSecret, turnSecret: saved.turnSecret, adminSecret: freshSecrets().adminSecret });
    }
  }
  return save(file, freshSecrets());
}

function save(file: string, secrets: LocalSecrets): LocalSecrets {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
  return secrets;
}

/**
 * The admin secret `vchat dev` keeps in `<stateDir>/secrets.json`, for `vchat admin` on the same
 * machine; null when there is none yet (the service never ran there).
 */
export function savedAdminSecret(stateDir: string): string | null {
  const file = join(stateDir, "secrets.json");
  if (!existsSync(file)) return null;
  const saved = JSON.parse(readFileSync(file, "utf8")) as Partial<LocalSecrets>;
  return typeof saved.adminSecret === "string" ? saved.adminSecret : null;
}
