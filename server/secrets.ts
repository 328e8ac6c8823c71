import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** The secrets a local deployment (`vchat dev`, one node or several) generates for itself. */
export interface LocalSecrets {
  jwtSecret: string;
  turnSecret: string;
}

export function freshSecrets(): LocalSecrets {
  return { jwtSecret: randomBytes(32).toString("base64url"), turnSecret: randomBytes(24).toString("hex") };
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
    if (saved.jwtSecret && saved.turnSecret) return { jwtSecret: saved.jwtSecret, turnSecret: saved.turnSecret };
  }
  const secrets = freshSecrets();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
  return secrets;
}
