import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { localSecrets, savedAdminSecret, stateFolder, StateError } from "./secrets.ts";

describe("vchat dev's secrets", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "vchat-secrets-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("live beside the database, mode 600, and are the same on the next start", () => {
    const folder = stateFolder(join(dir, "v.db"));
    expect(folder).toBe(dir);
    const first = localSecrets(folder);
    const file = join(dir, "secrets.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(localSecrets(stateFolder(join(dir, "v.db")))).toEqual(first);
    expect(stateFolder(":memory:")).toBeNull();
  });

  it("are never replaced silently: {} is an error naming the file and the missing keys", () => {
    const file = join(dir, "secrets.json");
    writeFileSync(file, "{}", { mode: 0o600 });
    expect(() => localSecrets(dir)).toThrow(StateError);
    expect(() => localSecrets(dir)).toThrow(new RegExp(`${file} lacks jwtSecret .* and turnSecret`));
    expect(readFileSync(file, "utf8")).toBe("{}");
  });

  it("a file from before the admin API gets an admin secret; its other secrets are kept", () => {
    const file = join(dir, "secrets.json");
    const old = { jwtSecret: "j".repeat(40), turnSecret: "t".repeat(20) };
    writeFileSync(file, JSON.stringify(old), { mode: 0o600 });
    const secrets = localSecrets(dir);
    expect(secrets).toMatchObject(old);
    expect(secrets.adminSecret.length).toBeGreaterThanOrEqual(32);
    expect(secrets.adminSecret).not.toBe(secrets.jwtSecret);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(secrets);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(savedAdminSecret(dir)).toBe(secrets.adminSecret);
  });

  it("a broken file is an error naming it", () => {
    const file = join(dir, "secrets.json");
    writeFileSync(file, '{"jwtSecret": "abc', { mode: 0o600 });
    expect(() => localSecrets(dir)).toThrow(new RegExp(`^${file} cannot be read as JSON`));
  });

  it("a file other users can read is a warning", () => {
    localSecrets(dir);
    const file = join(dir, "secrets.json");
    chmodSync(file, 0o644);
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (s: string) => void lines.push(s) });
    localSecrets(dir, log);
    expect(lines.join("")).toMatch(/"level":40.*can be read by other users \(mode 644\)/);
  });

  it("a folder that does not exist is an error, never created", () => {
    expect(() => stateFolder(join(dir, "v.db"), join(dir, "missing"))).toThrow(/state folder .*missing does not exist/);
    expect(() => stateFolder(join(dir, "nope", "v.db"))).toThrow(/database's folder .*nope does not exist/);
    expect(existsSync(join(dir, "missing"))).toBe(false);
    expect(existsSync(join(dir, "nope"))).toBe(false);
  });
});
