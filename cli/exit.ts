/** Exit codes shared by every command; an interrupted command exits 128 + the signal (130 on Ctrl-C). */
export const exitCodes = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/**
 * An error the CLI prints as one line, `vchat: CODE: message`, or as `{ok:false,error:{code,message}}`
 * with `--json`. The code is stable (scripts branch on it); the message names the offending value
 * and what to do instead.
 */
export class CliError extends Error {
  override name = "CliError";
  readonly code: string;
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number = exitCodes.failed) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad flags or arguments: exit 2 with the message, before any work starts. */
export class UsageError extends CliError {
  override name = "UsageError";
  constructor(message: string) {
    super("USAGE", message, exitCodes.usage);
  }
}

/** System errors people meet (a port in use, a missing folder) as one line with a hint. */
export function describeSystemError(err: NodeJS.ErrnoException & { address?: string; port?: number }): CliError | undefined {
  const where = err.address !== undefined ? `${err.address}:${err.port}` : (err.path ?? "");
  switch (err.code) {
    case "EADDRINUSE":
      return new CliError("ADDRESS_IN_USE", `${where} is already in use (another vchat? pick another --port, or --port 0 for a free one)`);
    case "EADDRNOTAVAIL":
      return new CliError("ADDRESS_NOT_AVAILABLE", `${where} is not an address of this machine (check --host)`);
    case "EACCES":
      return new CliError("PERMISSION_DENIED", `permission denied: ${where || err.message} (ports below 1024 need root; files need write access)`);
    case "ENOENT":
      return new CliError("NOT_FOUND", `no such file or folder: ${where || err.message}`);
    case "EEXIST":
      return new CliError("ALREADY_EXISTS", `already exists: ${where || err.message}`);
    case "ECONNREFUSED":
      return new CliError("CONNECTION_REFUSED", `${where} refused the connection (is the service running there?)`);
    default:
      return undefined;
  }
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
