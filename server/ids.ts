import { randomBytes } from "node:crypto";

/** Random, URL-safe ids (128 bits): never sequential, never guessable. */
export function newId(): string {
  return randomBytes(16).toString("base64url");
}
