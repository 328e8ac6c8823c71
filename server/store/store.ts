import type { Ban, CallStats, EndReason, ReportReason, User } from "../../protocol/index.ts";

export interface UserRecord extends User {
  /** scrypt hash as `scrypt$N$r$p$salt$hash` (base64), registered users only. */
  passwordHash?: string;
}

export interface SessionParticipant {
  userId: string;
  nickname: string;
}

export interface SessionRecord {
  id: string;
  participants: [SessionParticipant, SessionParticipant];
  relayOnly: boolean;
  sharedInterests: string[];
  startedAt: string;
  endedAt: string | null;
  endReason: EndReason | null;
  /** The participant whose action ended the call, when one did. */
  endedBy: string | null;
  /** Client-side call quality by user id, from `call:stats`. */
  stats: Record<string, CallStats>;
}

export interface ChatRecord {
  id: string;
  sessionId: string;
  from: string;
  text: string;
  at: string;
}

export interface ReportRecord {
  id: string;
  sessionId: string;
  reporterId: string;
  reportedId: string;
  reason: ReportReason;
  details: string | null;
  at: string;
}

/** A ban as kept: who banned, why, until when, and who lifted it. */
export type BanRecord = Ban;

/**
 * Everything vchat keeps. One contract (`store.contract.ts`) runs against every implementation:
 * SQLite (`vchat dev`) and MongoDB (`vchat serve`). All methods are async and take and return
 * plain data, so an implementation may live in another process.
 */
export interface Store {
  /** Fails with `VchatError("EMAIL_TAKEN")` when the email is registered already. */
  createUser(user: UserRecord): Promise<void>;
  getUser(id: string): Promise<UserRecord | null>;
  /** Email is compared in lower case. */
  getUserByEmail(email: string): Promise<UserRecord | null>;

  createSession(session: Omit<SessionRecord, "endedAt" | "endReason" | "endedBy" | "stats">): Promise<void>;
  /** Closes a session once; later calls change nothing and return false. */
  endSession(id: string, end: { at: string; reason: EndReason; by: string | null }): Promise<boolean>;
  saveCallStats(sessionId: string, userId: string, stats: CallStats): Promise<void>;
  getSession(id: string): Promise<SessionRecord | null>;
  /** The user's sessions, newest first. */
  listSessions(userId: string, limit: number): Promise<SessionRecord[]>;
  /** Sessions still open (no end) — after a crash, to close them. */
  listOpenSessions(): Promise<SessionRecord[]>;

  addChatMessage(message: ChatRecord): Promise<void>;
  /** Oldest first. */
  listChatMessages(sessionId: string): Promise<ChatRecord[]>;

  /** One per reporter and session: a second fails with `VchatError("ALREADY_REPORTED")`. */
  addReport(report: ReportRecord): Promise<void>;
  listReports(sessionId: string): Promise<ReportRecord[]>;
  /** Reports filed at or after `since` (all without it), oldest first, up to `limit`. */
  listReportsSince(since: string | null, limit: number): Promise<ReportRecord[]>;
  /** How many different users reported this user at or after `since`. */
  countReporters(reportedId: string, since: string): Promise<number>;

  /** Keeps a ban (not lifted). */
  addBan(ban: Omit<BanRecord, "liftedAt" | "liftedBy">): Promise<void>;
  /** Lifts the user's bans in force at `lift.at`, recording who lifted them; returns how many. */
  liftBans(userId: string, lift: { at: string; by: string }): Promise<number>;
  /** The user's ban in force at `at` that ends last (one without an end first), or null. */
  activeBan(userId: string, at: string): Promise<BanRecord | null>;
  /** Every ban of the user, lifted or not, newest first. */
  listBans(userId: string): Promise<BanRecord[]>;

  /** Idempotent. */
  addBlock(blockerId: string, blockedId: string, at: string): Promise<void>;
  /** Ids this user blocked and ids that blocked this user: neither may be matched with them. */
  listBlockedEitherWay(userId: string): Promise<string[]>;

  /** Throws when the backing database cannot be reached (for `/readyz`). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
