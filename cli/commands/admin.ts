/**
 * `vchat admin`: the operator's moderation through the admin API. `token` mints an admin token
 * from the admin secret; `reports`, `ban` and `unban` call a running service with one.
 * Exit codes: 0 done, 1 the service refused or could not be reached, 2 usage errors.
 */
import type { Command } from "commander";
import { restClient, RestError, type AdminReportsResponse, type Ban, type RestInput, type RestOutput, type UnbanResponse } from "../../protocol/index.ts";
import { parseDuration, UsageError } from "../exit.ts";

/** Where the admin secret and token come from. */
export interface AdminAccess {
  /** The service's base URL. @default VCHAT_URL or http://127.0.0.1:8080 */
  url?: string;
  /** Where `vchat dev` keeps its secrets. @default ".vchat" */
  stateDir?: string;
  /** The operator named in minted tokens, kept with each ban and unban. @default USER or "operator" */
  as?: string;
  env?: Record<string, string | undefined>;
}

export interface AdminFlags extends AdminAccess {
  json?: boolean;
}

/** The admin secret: VCHAT_ADMIN_SECRET (vchat serve), else the one `vchat dev` keeps in `<stateDir>/secrets.json`. */
async function adminSecret(access: AdminAccess): Promise<string> {
  const env = access.env ?? process.env;
  if (env.VCHAT_ADMIN_SECRET) return env.VCHAT_ADMIN_SECRET;
  const { savedAdminSecret } = await import("../../server/secrets.ts");
  const stateDir = access.stateDir ?? ".vchat";
  const secret = savedAdminSecret(stateDir);
  if (!secret) {
    throw new UsageError(`no admin secret: set VCHAT_ADMIN_SECRET (as the nodes have it), or run where vchat dev keeps ${stateDir}/secrets.json (--state-dir)`);
  }
  return secret;
}

const operatorOf = (access: AdminAccess) => access.as ?? (access.env ?? process.env).USER ?? "operator";

/** Mints an admin token for `as`, valid `ttlMs`. */
export async function adminToken(access: AdminAccess & { ttlMs?: number }): Promise<{ token: string; operator: string; expiresAt: string }> {
  const { signAdminToken } = await import("../../server/admin/admin-token.ts");
  const operator = operatorOf(access);
  const ttlSeconds = Math.max(1, Math.round((access.ttlMs ?? 3_600_000) / 1000));
  let token: string;
  try {
    token = signAdminToken(await adminSecret(access), operator, ttlSeconds);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--as: ${(err as Error).message}`);
  }
  return { token, operator, expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString() };
}

/** Calls the admin API with VCHAT_ADMIN_TOKEN, or a short-lived token minted from the admin secret. */
async function call<N extends "adminReports" | "ban" | "unban">(access: AdminAccess, route: N, input: RestInput<N>): Promise<RestOutput<N>> {
  const env = access.env ?? process.env;
  const base = (access.url ?? env.VCHAT_URL ?? "http://127.0.0.1:8080").replace(/\/$/, "");
  const token = env.VCHAT_ADMIN_TOKEN ?? (await adminToken({ ...access, ttlMs: 60_000 })).token;
  try {
    return await restClient({ baseUrl: base, token }).call(route, input);
  } catch (err) {
    if (!(err instanceof RestError)) throw err;
    if (err.status === 0) throw new Error(`could not reach ${base}: ${err.message}`, { cause: err });
    throw new Error(`${err.status} ${err.code}: ${err.message}`, { cause: err });
  }
}

/** Reports filed since `since` (an ISO time, or a duration meaning that long ago), oldest first. */
export function adminReports(access: AdminAccess, opts: { since?: string; limit?: number } = {}): Promise<AdminReportsResponse> {
  return call(access, "adminReports", { since: opts.since ? sinceTime(opts.since) : undefined, limit: opts.limit || undefined });
}

export async function adminBan(access: AdminAccess, userId: string, opts: { reason: string; forMs?: number }): Promise<Ban> {
  const forSeconds = opts.forMs === undefined ? undefined : Math.max(1, Math.round(opts.forMs / 1000));
  return (await call(access, "ban", { userId, reason: opts.reason, forSeconds })).ban;
}

export function adminUnban(access: AdminAccess, userId: string): Promise<UnbanResponse> {
  return call(access, "unban", { userId });
}

function sinceTime(text: string): string {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = new Date(text);
    if (Number.isNaN(at.getTime())) throw new UsageError(`--since: not a time: "${text}"`);
    return at.toISOString();
  }
  return new Date(Date.now() - parseDuration(text)).toISOString();
}

const print = (text: string) => process.stdout.write(text + "\n");

export function registerAdmin(program: Command): void {
  const admin = program
    .command("admin")
    .description("moderate a running service: read reports, ban and unban users (needs the admin secret or an admin token)")
    .addHelpText(
      "after",
      `
Access: VCHAT_ADMIN_TOKEN if set; otherwise a short-lived token is made from the admin secret,
VCHAT_ADMIN_SECRET (as vchat serve has it) or vchat dev's <state-dir>/secrets.json.`,
    );
  const common = (cmd: Command) =>
    cmd
      .option("--url <url>", "the service's base URL (default VCHAT_URL or http://127.0.0.1:8080)")
      .option("--state-dir <dir>", "where vchat dev keeps its secrets", ".vchat")
      .option("--as <operator>", "the operator name kept with what you do (default $USER)")
      .option("--json", "print JSON for machines", false);

  common(admin.command("token"))
    .description("print an admin token for VCHAT_ADMIN_TOKEN (from the admin secret)")
    .option("--ttl <duration>", "how long the token is valid, e.g. 1h, 7d", parseDuration, 3_600_000)
    .action(async (flags: AdminFlags & { ttl: number }) => {
      const result = await adminToken({ ...flags, ttlMs: flags.ttl });
      print(flags.json ? JSON.stringify(result) : result.token);
    });

  common(admin.command("reports"))
    .description("list reports, oldest first")
    .option("--since <time>", "an ISO time, or how long ago: 24h, 7d")
    .option("--limit <n>", "at most this many (1-1000)", (v) => Number(v), 100)
    .action(async (flags: AdminFlags & { since?: string; limit: number }) => {
      if (!Number.isInteger(flags.limit) || flags.limit < 1 || flags.limit > 1000) throw new UsageError("--limit must be a whole number from 1 to 1000");
      const { reports } = await adminReports(flags, { since: flags.since, limit: flags.limit });
      if (flags.json) print(JSON.stringify({ reports }));
      else if (reports.length === 0) print("no reports");
      else
        for (const r of reports) {
          print(`${r.at}  ${r.reason.padEnd(10)}  reported ${r.reportedId}  by ${r.reporterId}  session ${r.sessionId}${r.details ? `  "${r.details}"` : ""}`);
        }
    });

  common(admin.command("ban"))
    .description("ban a user: their sockets are disconnected, logins and API calls refused")
    .argument("<user>", "the user id")
    .requiredOption("--reason <text>", "why (shown to the user)")
    .option("--for <duration>", "how long, e.g. 12h, 7d (default: until unbanned)", parseDuration)
    .action(async (userId: string, flags: AdminFlags & { reason: string; for?: number }) => {
      const ban = await adminBan(flags, userId, { reason: flags.reason, forMs: flags.for });
      print(flags.json ? JSON.stringify({ ban }) : `banned ${ban.userId} ${ban.until ? `until ${ban.until}` : "until unbanned"} (by ${ban.by}, ban ${ban.id})`);
    });

  common(admin.command("unban"))
    .description("lift a user's bans")
    .argument("<user>", "the user id")
    .action(async (userId: string, flags: AdminFlags) => {
      const result = await adminUnban(flags, userId);
      print(
        flags.json
          ? JSON.stringify(result)
          : result.lifted > 0
            ? `unbanned ${userId} (${result.lifted} ban${result.lifted > 1 ? "s" : ""} lifted)`
            : `${userId} had no ban in force`,
      );
    });
}
