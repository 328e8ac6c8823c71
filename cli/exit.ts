/** Exit codes shared by every command. */
export const exitCodes = { ok: 0, failed: 1, usage: 2 } as const;

/** Bad flags or arguments: exit 2 with the message. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parses durations like `500ms`, `30s`, `10m`, `1h`, `7d` into milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`not a duration: "${text}" (use e.g. 500ms, 30s, 10m, 1h, 7d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h" | "d"];
  return Math.round(Number(m[1]) * unit);
}

/** Parses a whole number within bounds, for commander option parsers. */
export function intOption(name: string, min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be a whole number from ${min} to ${max}, got "${text}"`);
    return n;
  };
}
