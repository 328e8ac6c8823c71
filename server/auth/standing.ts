import { VchatError, type AuthRevoked, type RevokeReason } from "../../protocol/index.ts";
import type { Logger } from "../log.ts";
import type { Store } from "../store/store.ts";

export interface StandingDeps {
  store: Store;
  /** How long an answer is reused: a ban made on another node reaches this one within it. */
  cacheMs: number;
  logger: Logger;
  now?: () => number;
}

/** Whether an account may still act: it exists and is not banned. */
export type Standing = { ok: true } | { ok: false; reason: Exclude<RevokeReason, "token-expired">; message: string; until: string | null };

/** Entries kept at most; past it the cache starts over (a burst of distinct users, not a leak). */
const cacheMax = 100_000;

/**
 * Account standing for every authenticated REST call and socket event: the account must exist and
 * have no ban in force. Answers are cached for `cacheMs` (a ban ending sooner ends the entry
 * sooner) and concurrent lookups of one user share one store read.
 *
 * When the store cannot be reached the account is let through (logged): a database outage must
 * not cut every call in progress, and the store-backed calls fail on their own anyway.
 */
export function createStanding({ store, cacheMs, logger, now = Date.now }: StandingDeps) {
  const log = logger.child({ module: "standing" });
  const cache = new Map<string, { expires: number; standing: Promise<Standing> }>();

  async function lookUp(userId: string): Promise<{ standing: Standing; expires: number }> {
    const at = now();
    try {
      const [user, ban] = await Promise.all([store.getUser(userId), store.activeBan(userId, new Date(at).toISOString())]);
      if (!user) return { standing: { ok: false, reason: "account-deleted", message: "the account no longer exists", until: null }, expires: at + cacheMs };
      if (!ban) return { standing: { ok: true }, expires: at + cacheMs };
      const standing: Standing = { ok: false, reason: "banned", message: banMessage(ban.reason, ban.until), until: ban.until };
      return { standing, expires: Math.min(at + cacheMs, ban.until ? Date.parse(ban.until) : Infinity) };
    } catch (err) {
      log.warn({ err }, "could not check an account: letting it through while the store is unreachable");
      return { standing: { ok: true }, expires: at + Math.min(cacheMs, 1000) };
    }
  }

  function standing(userId: string): Promise<Standing> {
    const hit = cache.get(userId);
    if (hit && hit.expires > now()) return hit.standing;
    if (cache.size >= cacheMax) cache.clear();
    const entry: { expires: number; standing: Promise<Standing> } = { expires: Infinity, standing: Promise.resolve({ ok: true }) };
    entry.standing = lookUp(userId).then((r) => {
      entry.expires = r.expires;
      return r.standing;
    });
    cache.set(userId, entry);
    return entry.standing;
  }

  return {
    standing,

    /** Throws UNAUTHENTICATED for a deleted account and BANNED for a banned one. */
    async check(userId: string): Promise<void> {
      const s = await standing(userId);
      if (!s.ok) throw new VchatError(s.reason === "banned" ? "BANNED" : "UNAUTHENTICATED", s.message);
    },

    /** Drops the cached answer (after a ban or unban on this node). */
    forget(userId: string): void {
      cache.delete(userId);
    },
  };
}

export type AccountStanding = ReturnType<typeof createStanding>;

export function banMessage(reason: string, until: string | null): string {
  return `this account is banned ${until ? `until ${until}` : "until an operator lifts the ban"}: ${reason}`;
}

/** What a socket is told before the server closes it. */
export function revoked(s: Exclude<Standing, { ok: true }>): AuthRevoked {
  return { reason: s.reason, message: s.message, until: s.until };
}
