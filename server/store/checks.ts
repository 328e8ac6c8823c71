import { VchatError, limits, type CallStats } from "../../protocol/index.ts";

/**
 * Checks every Store implementation makes the same way, so the contract holds for all of them.
 * Payloads are validated at the edge (zod in `protocol/`); these guard what the database cannot
 * express the same way in SQLite and MongoDB.
 */

/**
 * Timestamps are stored as the strings `Date.toISOString()` makes. Both stores sort them as
 * strings, which is chronological only for this one fixed-width UTC form.
 */
export const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Ids become object keys (stats by user id) and MongoDB field paths: no dots, no `$`. */
export const idPattern = /^[A-Za-z0-9_-]+$/;

export function invalid(message: string): VchatError {
  return new VchatError("VALIDATION_FAILED", message);
}

export function checkTime(at: string, what: string): void {
  if (typeof at !== "string" || !isoTime.test(at)) throw invalid(`${what} must be an ISO time like 2026-01-31T12:00:00.000Z`);
}

export function checkId(value: string, what: string): void {
  if (typeof value !== "string" || value.length > limits.idMax || !idPattern.test(value)) throw invalid(`${what} must be an id`);
}

/** A negative limit means "no limit" to SQLite and 0 means "no limit" to MongoDB: neither is wanted. */
export function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw invalid("limit must be a non-negative integer");
}

export function checkParticipants(participants: readonly { userId: string }[]): void {
  if (!Array.isArray(participants) || participants.length !== 2) throw invalid("a session has exactly two participants");
  const [a, b] = participants;
  if (a!.userId === b!.userId) throw invalid("a session needs two different users");
}

export function checkBlock(blockerId: string, blockedId: string, at: string): void {
  checkId(blockerId, "blockerId");
  checkId(blockedId, "blockedId");
  if (blockerId === blockedId) throw invalid("a user cannot block themselves");
  checkTime(at, "at");
}

/**
 * Stats keys come from clients (the protocol allows extra keys). In MongoDB a key with a dot or
 * a leading `$` is a path or an operator, and NUL ends a BSON key; every store refuses them, so
 * a client gets the same answer whichever store is behind the server.
 */
export function checkStats(stats: CallStats): void {
  if (stats === null || typeof stats !== "object" || Array.isArray(stats)) throw invalid("stats must be an object");
  for (const key of Object.keys(stats)) {
    if (key.startsWith("$") || key.includes(".") || key.includes("\0")) throw invalid("stats keys must not contain '.', NUL or start with '$'");
  }
}

/** Emails are unique regardless of case; the original spelling is kept for display. */
export function emailKey(email: string): string {
  return email.toLowerCase();
}

/** A ban's operator names and reason, checked the same way by every store. */
export function checkBan(ban: { id: string; userId: string; reason: string; by: string; at: string; until: string | null }): void {
  checkId(ban.id, "id");
  checkId(ban.userId, "userId");
  checkOperator(ban.by, "by");
  if (typeof ban.reason !== "string" || ban.reason.length === 0 || ban.reason.length > limits.banReasonMax) {
    throw invalid(`reason must be 1 to ${limits.banReasonMax} characters`);
  }
  checkTime(ban.at, "at");
  if (ban.until !== null) {
    checkTime(ban.until, "until");
    if (ban.until <= ban.at) throw invalid("until must be after at");
  }
}

export function checkOperator(name: string, what: string): void {
  if (typeof name !== "string" || !/^[A-Za-z0-9_.@-]{1,64}$/.test(name)) throw invalid(`${what} must be an operator name`);
}
