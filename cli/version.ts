import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import pkg from "../package.json" with { type: "json" };

/** This vchat's version, from its package.json. */
export const vchatVersion: string = pkg.version;

/** A dependency's version from its own package.json (its `exports` may hide `pkg/package.json`). */
function packageVersion(name: string): string | null {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve(name));
    for (;;) {
      try {
        const p = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version?: string };
        if (p.name === name) return p.version ?? null;
      } catch {
        // Not this folder: go up.
      }
      if (dirname(dir) === dir) return null;
      dir = dirname(dir);
    }
  } catch {
    return null;
  }
}

/** `turnserver --version` prints just the version; null when coturn is not installed. */
function coturnVersion(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile("turnserver", ["--version"], { timeout: 3000 }, (err, stdout) => resolve(err ? null : stdout.trim().split("\n")[0] || null));
  });
}

export interface Versions {
  vchat: string;
  node: string;
  werift: string | null;
  coturn: string | null;
}

export async function versions(): Promise<Versions> {
  return { vchat: vchatVersion, node: process.versions.node, werift: packageVersion("werift"), coturn: await coturnVersion() };
}
