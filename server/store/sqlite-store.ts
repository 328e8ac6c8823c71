import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { VchatError, limits, type CallStats, type EndReason, type ReportReason } from "../../protocol/index.ts";
import { endReasons, reportReasons, userKinds } from "../../protocol/index.ts";
import { checkBan, checkBlock, checkId, checkLimit, checkOperator, checkParticipants, checkStats, checkTime, emailKey, invalid } from "./checks.ts";
import type { BanRecord, ChatRecord, ReportRecord, SessionRecord, Store, UserRecord } from "./store.ts";

const SCHEMA_VERSION = 2;

const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(", ");
// The exact shape `Date.toISOString()` produces (see checks.ts); GLOB keeps the check in SQL so
// rows written by other tools are held to it as well.
const iso = (col: string) => `${col} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'`;
const endReasonCheck = `end_reason IN (${list(endReasons)})`;
const sessionsTable = `
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY,
  a_id TEXT NOT NULL,
  a_nickname TEXT NOT NULL,
  b_id TEXT NOT NULL,
  b_nickname TEXT NOT NULL,
  relay_only INTEGER NOT NULL,
  shared_interests TEXT NOT NULL,
  started_at TEXT NOT NULL,
  ended_at TEXT,
  end_reason TEXT,
  ended_by TEXT,
  stats TEXT NOT NULL DEFAULT '{}',
  CONSTRAINT session_nicknames CHECK (length(a_nickname) BETWEEN 1 AND ${limits.nicknameMax} AND length(b_nickname) BETWEEN 1 AND ${limits.nicknameMax}),
  CONSTRAINT session_relay_only CHECK (relay_only IN (0, 1)),
  CONSTRAINT session_interests CHECK (json_array_length(shared_interests) <= ${limits.interestsMax}),
  CONSTRAINT session_started_at CHECK (${iso("started_at")}),
  CONSTRAINT session_ended_at CHECK (ended_at IS NULL OR ${iso("ended_at")}),
  CONSTRAINT session_end_reason CHECK (end_reason IS NULL OR ${endReasonCheck})
) STRICT;
-- Crash recovery lists the sessions without an end: a partial index holds only those.
CREATE INDEX IF NOT EXISTS sessions_open ON sessions (started_at) WHERE ended_at IS NULL;
`;

// SQLite's length() counts code points and JS counts UTF-16 units, so these caps never reject
// what passed the protocol's zod limits; they stop only what bypassed them.
const schema = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  nickname TEXT NOT NULL,
  kind TEXT NOT NULL,
  email TEXT,
  email_key TEXT UNIQUE,
  created_at TEXT NOT NULL,
  password_hash TEXT,
  CONSTRAINT user_nickname CHECK (length(nickname) BETWEEN 1 AND ${limits.nicknameMax}),
  CONSTRAINT user_kind CHECK (kind IN (${list(userKinds)})),
  CONSTRAINT user_email CHECK (email IS NULL OR length(email) BETWEEN 1 AND ${limits.emailMax}),
  CONSTRAINT user_created_at CHECK (${iso("created_at")})
) STRICT;

${sessionsTable}
-- One row per participant, so "a user's sessions, newest first" is one index range scan
-- instead of an OR over two columns followed by a sort.
CREATE TABLE IF NOT EXISTS session_users (
  user_id TEXT NOT NULL,
  started_at TEXT NOT NULL,
  session_id TEXT NOT NULL,
  PRIMARY KEY (user_id, started_at, session_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS chat_messages (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  sender TEXT NOT NULL,
  text TEXT NOT NULL,
  at TEXT NOT NULL,
  CONSTRAINT chat_text CHECK (length(text) BETWEEN 1 AND ${limits.chatTextMax}),
  CONSTRAINT chat_at CHECK (${iso("at")})
) STRICT;
CREATE INDEX IF NOT EXISTS chat_by_session ON chat_messages (session_id, at);

CREATE TABLE IF NOT EXISTS reports (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  reporter_id TEXT NOT NULL,
  reported_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  details TEXT,
  at TEXT NOT NULL,
  CONSTRAINT report_reason CHECK (reason IN (${list(reportReasons)})),
  CONSTRAINT report_details CHECK (details IS NULL OR length(details) <= ${limits.reportDetailsMax}),
  CONSTRAINT report_at CHECK (${iso("at")})
) STRICT;
CREATE INDEX IF NOT EXISTS reports_by_session ON reports (session_id, at);
-- One report per reporter and session (schema 2; older files are deduplicated first, see migrate).
CREATE UNIQUE INDEX IF NOT EXISTS reports_once ON reports (session_id, reporter_id);
-- The operator's list of recent reports, and how many users reported one user lately.
CREATE INDEX IF NOT EXISTS reports_by_at ON reports (at);
CREATE INDEX IF NOT EXISTS reports_by_reported ON reports (reported_id, at, reporter_id);

CREATE TABLE IF NOT EXISTS bans (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  banned_by TEXT NOT NULL,
  at TEXT NOT NULL,
  until TEXT,
  lifted_at TEXT,
  lifted_by TEXT,
  CONSTRAINT ban_reason CHECK (length(reason) BETWEEN 1 AND ${limits.banReasonMax}),
  CONSTRAINT ban_at CHECK (${iso("at")}),
  CONSTRAINT ban_until CHECK (until IS NULL OR (${iso("until")} AND until > at)),
  CONSTRAINT ban_lifted CHECK ((lifted_at IS NULL) = (lifted_by IS NULL) AND (lifted_at IS NULL OR ${iso("lifted_at")}))
) STRICT;
CREATE INDEX IF NOT EXISTS bans_by_user ON bans (user_id, at);

CREATE TABLE IF NOT EXISTS blocks (
  blocker_id TEXT NOT NULL,
  blocked_id TEXT NOT NULL,
  at TEXT NOT NULL,
  PRIMARY KEY (blocker_id, blocked_id)
) STRICT, WITHOUT ROWID;
-- "Who blocked me" is the other direction of the primary key.
CREATE INDEX IF NOT EXISTS blocks_by_blocked ON blocks (blocked_id, blocker_id);
`;

type Row = Record<string, SQLInputValue>;

/**
 * The embedded Store of `vchat dev` on `node:sqlite`: one file (or `:memory:`), WAL so readers
 * never wait for the writer, every statement prepared once.
 *
 * Reads run synchronously inside the async methods. Writes are grouped: those of one turn of
 * the event loop commit together, each in its own savepoint, and a write's promise settles once
 * it is committed, so callers never see half a write and a failed write is undone alone.
 *
 * @example
 * const store = await openSqliteStore(".vchat/vchat.db");
 */
export async function openSqliteStore(path: string): Promise<Store> {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    // Another process (a second `vchat dev`, the CLI) may hold the write lock for a moment.
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("PRAGMA journal_mode = WAL");
    // With WAL, NORMAL loses at most the last commits on power loss, never consistency.
    db.exec("PRAGMA synchronous = NORMAL");
    const version = Number((db.prepare("PRAGMA user_version").get() as Row).user_version);
    if (version > SCHEMA_VERSION) {
      throw new VchatError("UNAVAILABLE", `database ${path} has schema ${version}, newer than this vchat (${SCHEMA_VERSION})`);
    }
    db.exec("BEGIN IMMEDIATE");
    // Schema 1 allowed several reports of one session by one reporter: the first one stays.
    if (version === 1) db.exec("DELETE FROM reports WHERE rowid NOT IN (SELECT min(rowid) FROM reports GROUP BY session_id, reporter_id)");
    db.exec(schema);
    upgradeEndReasons(db);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec("COMMIT");
  } catch (err) {
    if (db.isTransaction) db.exec("ROLLBACK");
    db.close();
    throw err;
  }
  return new SqliteStore(db);
}

/**
 * The sessions table checks its end reasons against the protocol's list. A database made while
 * the list was shorter gets the table rebuilt with the new check (SQLite cannot change a CHECK
 * in place), keeping every row.
 */
function upgradeEndReasons(db: DatabaseSync): void {
  const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'sessions'").get() as Row;
  if (String(row.sql).includes(endReasonCheck)) return;
  db.exec("DROP INDEX IF EXISTS sessions_open");
  db.exec("ALTER TABLE sessions RENAME TO sessions_before");
  db.exec(sessionsTable);
  db.exec("INSERT INTO sessions SELECT * FROM sessions_before");
  db.exec("DROP TABLE sessions_before");
}

class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #q: ReturnType<typeof prepare>;
  readonly #queue: { work: () => unknown; resolve: (value: unknown) => void; reject: (err: unknown) => void }[] = [];

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#q = prepare(db);
  }

  async createUser(user: UserRecord): Promise<void> {
    checkId(user.id, "id");
    checkTime(user.createdAt, "createdAt");
    return this.#write(() => {
      try {
        this.#q.insertUser.run(
          user.id,
          user.nickname,
          user.kind,
          user.email ?? null,
          user.email === undefined ? null : emailKey(user.email),
          user.createdAt,
          user.passwordHash ?? null,
        );
      } catch (err) {
        if (errcode(err) === SQLITE_CONSTRAINT_UNIQUE && String((err as Error).message).includes("users.email_key")) {
          throw new VchatError("EMAIL_TAKEN", "this email is registered already");
        }
        throw err;
      }
    });
  }

  async getUser(id: string): Promise<UserRecord | null> {
    const row = this.#q.userById.get(id) as Row | undefined;
    return row ? toUser(row) : null;
  }

  async getUserByEmail(email: string): Promise<UserRecord | null> {
    const row = this.#q.userByEmail.get(emailKey(email)) as Row | undefined;
    return row ? toUser(row) : null;
  }

  async createSession(s: Omit<SessionRecord, "endedAt" | "endReason" | "endedBy" | "stats">): Promise<void> {
    checkId(s.id, "id");
    checkParticipants(s.participants);
    checkTime(s.startedAt, "startedAt");
    const [a, b] = s.participants;
    return this.#write(() => {
      this.#q.insertSession.run(s.id, a.userId, a.nickname, b.userId, b.nickname, s.relayOnly ? 1 : 0, JSON.stringify(s.sharedInterests), s.startedAt);
      this.#q.insertSessionUser.run(a.userId, s.startedAt, s.id);
      this.#q.insertSessionUser.run(b.userId, s.startedAt, s.id);
    });
  }

  async endSession(id: string, end: { at: string; reason: EndReason; by: string | null }): Promise<boolean> {
    checkTime(end.at, "at");
    return this.#write(() => Number(this.#q.endSession.run(end.at, end.reason, end.by ?? null, id).changes) === 1);
  }

  async saveCallStats(sessionId: string, userId: string, stats: CallStats): Promise<void> {
    checkId(userId, "userId");
    checkStats(stats);
    // Read-modify-write inside the write transaction: another process writing the other
    // participant's stats at the same moment cannot be lost.
    return this.#write(() => {
      const row = this.#q.sessionStats.get(sessionId, userId, userId) as Row | undefined;
      if (!row) throw new VchatError("NOT_FOUND", "no such session with this participant");
      const all = JSON.parse(String(row.stats)) as Record<string, CallStats>;
      // A computed key defines an own property even for "__proto__".
      this.#q.updateStats.run(JSON.stringify({ ...all, [userId]: stats }), sessionId);
    });
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    const row = this.#q.sessionById.get(id) as Row | undefined;
    return row ? toSession(row) : null;
  }

  async listSessions(userId: string, limit: number): Promise<SessionRecord[]> {
    checkLimit(limit);
    if (limit === 0) return [];
    return (this.#q.sessionsByUser.all(userId, limit) as Row[]).map(toSession);
  }

  async listOpenSessions(): Promise<SessionRecord[]> {
    return (this.#q.openSessions.all() as Row[]).map(toSession);
  }

  async addChatMessage(m: ChatRecord): Promise<void> {
    checkId(m.id, "id");
    checkTime(m.at, "at");
    return this.#write(() => void this.#q.insertChat.run(m.id, m.sessionId, m.from, m.text, m.at));
  }

  async listChatMessages(sessionId: string): Promise<ChatRecord[]> {
    return (this.#q.chatBySession.all(sessionId) as Row[]).map((r) => ({
      id: String(r.id),
      sessionId: String(r.session_id),
      from: String(r.sender),
      text: String(r.text),
      at: String(r.at),
    }));
  }

  async addReport(r: ReportRecord): Promise<void> {
    checkId(r.id, "id");
    checkTime(r.at, "at");
    return this.#write(() => {
      try {
        this.#q.insertReport.run(r.id, r.sessionId, r.reporterId, r.reportedId, r.reason, r.details ?? null, r.at);
      } catch (err) {
        if (errcode(err) === SQLITE_CONSTRAINT_UNIQUE && String((err as Error).message).includes("reports.session_id")) {
          throw new VchatError("ALREADY_REPORTED", "you reported this call already");
        }
        throw err;
      }
    });
  }

  async listReports(sessionId: string): Promise<ReportRecord[]> {
    return (this.#q.reportsBySession.all(sessionId) as Row[]).map(toReport);
  }

  async listReportsSince(since: string | null, limit: number): Promise<ReportRecord[]> {
    if (since !== null) checkTime(since, "since");
    checkLimit(limit);
    if (limit === 0) return [];
    return (this.#q.reportsSince.all(since ?? "", limit) as Row[]).map(toReport);
  }

  async countReporters(reportedId: string, since: string): Promise<number> {
    checkTime(since, "since");
    return Number((this.#q.countReporters.get(reportedId, since) as Row).n);
  }

  async addBan(ban: Omit<BanRecord, "liftedAt" | "liftedBy">): Promise<void> {
    checkBan(ban);
    return this.#write(() => void this.#q.insertBan.run(ban.id, ban.userId, ban.reason, ban.by, ban.at, ban.until));
  }

  async liftBans(userId: string, lift: { at: string; by: string }): Promise<number> {
    checkTime(lift.at, "at");
    checkOperator(lift.by, "by");
    return this.#write(() => Number(this.#q.liftBans.run(lift.at, lift.by, userId, lift.at).changes));
  }

  async activeBan(userId: string, at: string): Promise<BanRecord | null> {
    checkTime(at, "at");
    const row = this.#q.activeBan.get(userId, at) as Row | undefined;
    return row ? toBan(row) : null;
  }

  async listBans(userId: string): Promise<BanRecord[]> {
    return (this.#q.bansByUser.all(userId) as Row[]).map(toBan);
  }

  async addBlock(blockerId: string, blockedId: string, at: string): Promise<void> {
    checkBlock(blockerId, blockedId, at);
    return this.#write(() => void this.#q.insertBlock.run(blockerId, blockedId, at));
  }

  async listBlockedEitherWay(userId: string): Promise<string[]> {
    return (this.#q.blockedEitherWay.all(userId, userId) as Row[]).map((r) => String(r.id));
  }

  async ping(): Promise<void> {
    if (!this.#db.isOpen) throw new VchatError("UNAVAILABLE", "the database is closed");
    this.#q.ping.get();
  }

  async close(): Promise<void> {
    if (!this.#db.isOpen) return;
    this.#flush();
    // Folds the WAL back into the main file, so a copied .db file is complete on its own.
    try {
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      this.#db.close();
    }
  }

  /**
   * Group commit: the writes of one turn of the event loop share one transaction, so a busy
   * moment costs one WAL append instead of one per write. Each write runs in its own savepoint,
   * so one that fails is undone alone and only its caller sees the error; every caller's
   * promise settles once the transaction holding its write is committed.
   */
  #write<T>(work: () => T): Promise<T> {
    if (!this.#db.isOpen) return Promise.reject(new VchatError("UNAVAILABLE", "the database is closed"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.#queue.length === 1) setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    const batch = this.#queue.splice(0);
    if (batch.length === 0) return;
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      for (const { work } of batch) {
        this.#q.savepoint.run();
        try {
          outcomes.push({ ok: true, value: work() });
          this.#q.release.run();
        } catch (err) {
          this.#q.rollbackTo.run();
          this.#q.release.run();
          outcomes.push({ ok: false, value: mapError(err) });
        }
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      // BEGIN or COMMIT failed (the database is locked past busy_timeout, the disk is full):
      // nothing of the batch was kept.
      if (this.#db.isOpen && this.#db.isTransaction) this.#db.exec("ROLLBACK");
      for (const { reject } of batch) reject(mapError(err));
      return;
    }
    batch.forEach(({ resolve, reject }, i) => (outcomes[i]!.ok ? resolve(outcomes[i]!.value) : reject(outcomes[i]!.value)));
  }
}

function prepare(db: DatabaseSync) {
  const q = (sql: string): StatementSync => db.prepare(sql);
  const sessionCols =
    "s.id, s.a_id, s.a_nickname, s.b_id, s.b_nickname, s.relay_only, s.shared_interests, s.started_at, s.ended_at, s.end_reason, s.ended_by, s.stats";
  return {
    insertUser: q("INSERT INTO users (id, nickname, kind, email, email_key, created_at, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?)"),
    userById: q("SELECT * FROM users WHERE id = ?"),
    userByEmail: q("SELECT * FROM users WHERE email_key = ?"),
    insertSession: q("INSERT INTO sessions (id, a_id, a_nickname, b_id, b_nickname, relay_only, shared_interests, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
    insertSessionUser: q("INSERT INTO session_users (user_id, started_at, session_id) VALUES (?, ?, ?)"),
    endSession: q("UPDATE sessions SET ended_at = ?, end_reason = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL"),
    sessionStats: q("SELECT stats FROM sessions WHERE id = ? AND (a_id = ? OR b_id = ?)"),
    updateStats: q("UPDATE sessions SET stats = ? WHERE id = ?"),
    sessionById: q(`SELECT ${sessionCols} FROM sessions s WHERE s.id = ?`),
    sessionsByUser: q(
      `SELECT ${sessionCols} FROM session_users su JOIN sessions s ON s.id = su.session_id
       WHERE su.user_id = ? ORDER BY su.started_at DESC, su.session_id DESC LIMIT ?`,
    ),
    openSessions: q(`SELECT ${sessionCols} FROM sessions s WHERE s.ended_at IS NULL ORDER BY s.started_at, s.id`),
    insertChat: q("INSERT INTO chat_messages (id, session_id, sender, text, at) VALUES (?, ?, ?, ?, ?)"),
    // rowid breaks ties: messages within one millisecond stay in the order they were sent.
    chatBySession: q("SELECT id, session_id, sender, text, at FROM chat_messages WHERE session_id = ? ORDER BY at, rowid"),
    insertReport: q("INSERT INTO reports (id, session_id, reporter_id, reported_id, reason, details, at) VALUES (?, ?, ?, ?, ?, ?, ?)"),
    reportsBySession: q("SELECT * FROM reports WHERE session_id = ? ORDER BY at, rowid"),
    reportsSince: q("SELECT * FROM reports WHERE at >= ? ORDER BY at, rowid LIMIT ?"),
    countReporters: q("SELECT count(DISTINCT reporter_id) AS n FROM reports WHERE reported_id = ? AND at >= ?"),
    insertBan: q("INSERT INTO bans (id, user_id, reason, banned_by, at, until) VALUES (?, ?, ?, ?, ?, ?)"),
    liftBans: q("UPDATE bans SET lifted_at = ?1, lifted_by = ?2 WHERE user_id = ?3 AND lifted_at IS NULL AND (until IS NULL OR until > ?4)"),
    // A ban without an end sorts first (NULLs first in DESC order would be last, hence the IS NULL key).
    activeBan: q(
      "SELECT * FROM bans WHERE user_id = ?1 AND lifted_at IS NULL AND at <= ?2 AND (until IS NULL OR until > ?2) ORDER BY until IS NULL DESC, until DESC LIMIT 1",
    ),
    bansByUser: q("SELECT * FROM bans WHERE user_id = ? ORDER BY at DESC, rowid DESC"),
    // The first block is kept: its time is when the user first asked for it.
    insertBlock: q("INSERT INTO blocks (blocker_id, blocked_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
    blockedEitherWay: q("SELECT blocked_id AS id FROM blocks WHERE blocker_id = ? UNION SELECT blocker_id FROM blocks WHERE blocked_id = ?"),
    ping: q("SELECT 1"),
    savepoint: q("SAVEPOINT write"),
    release: q("RELEASE write"),
    rollbackTo: q("ROLLBACK TO write"),
  };
}

function toUser(r: Row): UserRecord {
  const user: UserRecord = {
    id: String(r.id),
    nickname: String(r.nickname),
    kind: String(r.kind) as UserRecord["kind"],
    createdAt: String(r.created_at),
  };
  // Absent optional fields stay absent, so records round-trip exactly.
  if (r.email !== null) user.email = String(r.email);
  if (r.password_hash !== null) user.passwordHash = String(r.password_hash);
  return user;
}

function toReport(r: Row): ReportRecord {
  return {
    id: String(r.id),
    sessionId: String(r.session_id),
    reporterId: String(r.reporter_id),
    reportedId: String(r.reported_id),
    reason: String(r.reason) as ReportReason,
    details: r.details === null ? null : String(r.details),
    at: String(r.at),
  };
}

function toBan(r: Row): BanRecord {
  const opt = (v: SQLInputValue | undefined) => (v === null || v === undefined ? null : String(v));
  return {
    id: String(r.id),
    userId: String(r.user_id),
    reason: String(r.reason),
    by: String(r.banned_by),
    at: String(r.at),
    until: opt(r.until),
    liftedAt: opt(r.lifted_at),
    liftedBy: opt(r.lifted_by),
  };
}

function toSession(r: Row): SessionRecord {
  return {
    id: String(r.id),
    participants: [
      { userId: String(r.a_id), nickname: String(r.a_nickname) },
      { userId: String(r.b_id), nickname: String(r.b_nickname) },
    ],
    relayOnly: r.relay_only === 1 || r.relay_only === 1n,
    sharedInterests: JSON.parse(String(r.shared_interests)) as string[],
    startedAt: String(r.started_at),
    endedAt: r.ended_at === null ? null : String(r.ended_at),
    endReason: r.end_reason === null ? null : (String(r.end_reason) as EndReason),
    endedBy: r.ended_by === null ? null : String(r.ended_by),
    stats: JSON.parse(String(r.stats)) as Record<string, CallStats>,
  };
}

const SQLITE_CONSTRAINT_CHECK = 275;
const SQLITE_CONSTRAINT_NOTNULL = 1299;
const SQLITE_CONSTRAINT_UNIQUE = 2067;
const SQLITE_CONSTRAINT_DATATYPE = 3091;

function errcode(err: unknown): number | undefined {
  return (err as { errcode?: number }).errcode;
}

/** A record the schema refuses is bad input (a stable code); anything else stays as it is. */
function mapError(err: unknown): unknown {
  if (err instanceof VchatError) return err;
  const code = errcode(err);
  if (code === SQLITE_CONSTRAINT_CHECK || code === SQLITE_CONSTRAINT_NOTNULL || code === SQLITE_CONSTRAINT_DATATYPE) {
    // The message names the constraint ("CHECK constraint failed: chat_text"), never a value.
    return invalid(`invalid record (${String((err as Error).message).replace(/^.*failed: /, "")})`);
  }
  return err;
}
