import mongoose, { Schema, type Connection, type Model } from "mongoose";
import { VchatError, endReasons, limits, reportReasons, userKinds, type CallStats, type EndReason, type ReportReason } from "../../protocol/index.ts";
import { checkBan, checkBlock, checkId, checkLimit, checkOperator, checkParticipants, checkStats, checkTime, emailKey, invalid, isoTime } from "./checks.ts";
import type { BanRecord, ChatRecord, ReportRecord, SessionParticipant, SessionRecord, Store, UserRecord } from "./store.ts";

export interface MongoStoreOptions {
  /**
   * Chat messages are deleted by MongoDB's TTL monitor this many days after they were sent.
   * @default 30
   */
  chatRetentionDays?: number;
  /**
   * How long an operation waits for a reachable server before it fails (and `/readyz` says so).
   * @default 5000
   */
  serverSelectionTimeoutMS?: number;
}

export const defaultChatRetentionDays = 30;

// ---- documents as MongoDB keeps them ---------------------------------------------------

export interface UserDoc {
  _id: string;
  nickname: string;
  kind: UserRecord["kind"];
  email?: string | null;
  /** Lower-case email: the unique key. Absent for guests, so they never collide. */
  emailKey?: string | null;
  createdAt: string;
  passwordHash?: string | null;
}

/** A session record keyed by `_id`; participants are a plain array in BSON. */
export type SessionDoc = Omit<SessionRecord, "id" | "participants"> & { _id: string; participants: SessionParticipant[] };

export interface ChatDoc {
  // An ObjectId made by this process: it grows with every insert, so it keeps messages of the
  // same millisecond in the order they were sent, which a random message id would not.
  _id: mongoose.Types.ObjectId;
  messageId: string;
  sessionId: string;
  from: string;
  text: string;
  at: string;
  /** `at` as a Date: TTL indexes only work on dates. */
  sentAt: Date;
}

export interface ReportDoc {
  _id: string;
  sessionId: string;
  reporterId: string;
  reportedId: string;
  reason: ReportReason;
  details: string | null;
  at: string;
}

export interface BlockDoc {
  blockerId: string;
  blockedId: string;
  at: string;
}

export interface BanDoc {
  _id: string;
  userId: string;
  reason: string;
  by: string;
  at: string;
  until: string | null;
  liftedAt: string | null;
  liftedBy: string | null;
}

// ---- schemas ----------------------------------------------------------------------------

const idField = { type: String, required: true, maxlength: limits.idMax, match: /^[A-Za-z0-9_-]+$/ } as const;
// Timestamps stay the strings the server made (exact round trip, sortable, see checks.ts).
const timeField = { type: String, required: true, match: isoTime } as const;
// Records are small and written once: no `__v`, and empty objects (stats: {}) are kept.
// No buffering: with MongoDB unreachable a call fails at once (the caller answers UNAVAILABLE)
// instead of piling up behind a reconnect.
const options = { versionKey: false, minimize: false, id: false, strict: "throw", bufferCommands: false } as const;

/**
 * The mongoose schemas with their validation and indexes. Separate from any connection, so
 * tests check them without a server.
 */
export function mongoSchemas(opts: MongoStoreOptions = {}) {
  const days = opts.chatRetentionDays ?? defaultChatRetentionDays;
  if (!Number.isFinite(days) || days <= 0) throw invalid("chatRetentionDays must be a positive number of days");

  const user = new Schema<UserDoc>(
    {
      _id: idField,
      nickname: { type: String, required: true, minlength: 1, maxlength: limits.nicknameMax },
      kind: { type: String, required: true, enum: userKinds },
      email: { type: String, minlength: 1, maxlength: limits.emailMax },
      // Derived from email; lower-casing may lengthen a string, so it has no cap of its own.
      emailKey: { type: String },
      createdAt: timeField,
      passwordHash: { type: String },
    },
    { ...options, collection: "users" },
  );
  // Unique among users who have an email; guests have none and must not collide on "missing".
  user.index({ emailKey: 1 }, { unique: true, partialFilterExpression: { emailKey: { $type: "string" } } });

  const participant = new Schema<SessionParticipant>(
    {
      userId: idField,
      nickname: { type: String, required: true, minlength: 1, maxlength: limits.nicknameMax },
    },
    { _id: false, strict: "throw" },
  );
  const session = new Schema<SessionDoc>(
    {
      _id: idField,
      participants: {
        type: [participant],
        required: true,
        validate: {
          validator: (list: SessionParticipant[]) => list.length === 2 && list[0]!.userId !== list[1]!.userId,
          message: "a session has two different participants",
        },
      },
      relayOnly: { type: Boolean, required: true },
      sharedInterests: {
        type: [{ type: String, maxlength: limits.interestMax }],
        validate: { validator: (list: string[]) => list.length <= limits.interestsMax, message: "too many interests" },
      },
      startedAt: timeField,
      endedAt: { type: String, default: null, match: isoTime },
      endReason: { type: String, default: null, enum: [...endReasons, null] },
      endedBy: { type: String, default: null, maxlength: limits.idMax },
      // Stats by user id; the keys are ids (checked), the values the client's `call:stats`.
      stats: { type: Schema.Types.Mixed, default: () => ({}) },
    },
    { ...options, collection: "sessions" },
  );
  // A user's sessions, newest first: equality on the (multikey) participant, then the sort.
  session.index({ "participants.userId": 1, startedAt: -1, _id: -1 });
  // Crash recovery: sessions without an end.
  session.index({ endedAt: 1, startedAt: 1 });

  const chat = new Schema<ChatDoc>(
    {
      messageId: idField,
      sessionId: idField,
      from: idField,
      text: { type: String, required: true, minlength: 1, maxlength: limits.chatTextMax },
      at: timeField,
      sentAt: { type: Date, required: true },
    },
    { ...options, collection: "chat_messages" },
  );
  chat.index({ sessionId: 1, at: 1, _id: 1 });
  chat.index({ sentAt: 1 }, { expireAfterSeconds: Math.round(days * 86_400) });

  const report = new Schema<ReportDoc>(
    {
      _id: idField,
      sessionId: idField,
      reporterId: idField,
      reportedId: idField,
      reason: { type: String, required: true, enum: reportReasons },
      details: { type: String, default: null, maxlength: limits.reportDetailsMax },
      at: timeField,
    },
    { ...options, collection: "reports" },
  );
  report.index({ sessionId: 1, at: 1, _id: 1 });
  // One report per reporter and session.
  report.index({ sessionId: 1, reporterId: 1 }, { unique: true });
  // The operator's list of recent reports, and how many users reported one user lately.
  report.index({ at: 1, _id: 1 });
  report.index({ reportedId: 1, at: 1, reporterId: 1 });

  const operator = { type: String, required: true, match: /^[A-Za-z0-9_.@-]{1,64}$/ } as const;
  const ban = new Schema<BanDoc>(
    {
      _id: idField,
      userId: idField,
      reason: { type: String, required: true, minlength: 1, maxlength: limits.banReasonMax },
      by: operator,
      at: timeField,
      until: { type: String, default: null, match: isoTime },
      liftedAt: { type: String, default: null, match: isoTime },
      liftedBy: { ...operator, required: false, default: null },
    },
    { ...options, collection: "bans" },
  );
  ban.index({ userId: 1, at: -1, _id: -1 });

  const block = new Schema<BlockDoc>({ blockerId: idField, blockedId: idField, at: timeField }, { ...options, collection: "blocks" });
  // Makes addBlock idempotent even when two nodes add the same block at once.
  block.index({ blockerId: 1, blockedId: 1 }, { unique: true });
  // "Who blocked me".
  block.index({ blockedId: 1, blockerId: 1 });

  return { user, session, chat, report, block, ban };
}

/** The models on one connection (which need not be connected, for validation alone). */
export function mongoModels(conn: Connection, opts: MongoStoreOptions = {}) {
  const s = mongoSchemas(opts);
  return {
    User: conn.model<UserDoc>("User", s.user),
    Session: conn.model<SessionDoc>("Session", s.session),
    Chat: conn.model<ChatDoc>("Chat", s.chat),
    Report: conn.model<ReportDoc>("Report", s.report),
    Block: conn.model<BlockDoc>("Block", s.block),
    Ban: conn.model<BanDoc>("Ban", s.ban),
  };
}

/**
 * The Store of `vchat serve` on MongoDB through mongoose, on a connection of its own (several
 * stores, or other mongoose users, can live in one process).
 *
 * Opening creates the collections and brings their indexes in line with the schemas (a changed
 * chat retention replaces the TTL index). Commands are not buffered while the server is
 * unreachable: they fail within `serverSelectionTimeoutMS`, and `ping()` says so for `/readyz`.
 *
 * @example
 * const store = await openMongoStore("mongodb://127.0.0.1:27017/vchat", { chatRetentionDays: 7 });
 */
export async function openMongoStore(uri: string, opts: MongoStoreOptions = {}): Promise<Store> {
  // Checked before connecting, so a bad setting fails at once instead of after a connect.
  mongoSchemas(opts);
  const conn = mongoose.createConnection(uri, {
    serverSelectionTimeoutMS: opts.serverSelectionTimeoutMS ?? 5000,
    bufferCommands: false,
    autoIndex: false,
    autoCreate: false,
  });
  try {
    await conn.asPromise();
    const models = mongoModels(conn, opts);
    await dropRepeatedReports(models.Report);
    // Creates missing collections too. Nodes started with the same options find nothing to change.
    await Promise.all(Object.values(models).map((model) => model.syncIndexes()));
    return new MongoStore(conn, models);
  } catch (err) {
    await conn.close().catch(() => {});
    throw err;
  }
}

/**
 * Reports made before one per reporter and session was the rule: the first of each stays, so the
 * unique index can be built. Once that index is there, nothing is read.
 */
async function dropRepeatedReports(Report: Model<ReportDoc>): Promise<void> {
  const indexed = await Report.collection.indexExists("sessionId_1_reporterId_1").catch(() => false);
  if (indexed) return;
  const repeats = await Report.aggregate<{ ids: string[] }>([
    { $sort: { at: 1, _id: 1 } },
    { $group: { _id: { sessionId: "$sessionId", reporterId: "$reporterId" }, ids: { $push: "$_id" }, n: { $sum: 1 } } },
    { $match: { n: { $gt: 1 } } },
  ]);
  const extra = repeats.flatMap((r) => r.ids.slice(1));
  if (extra.length > 0) await Report.deleteMany({ _id: { $in: extra } });
}

/**
 * A Store on a connection the caller opened (and whose indexes it synced): `openMongoStore` is
 * the usual way in. Tests use it on a connection that never connects.
 */
export function mongoStoreOn(conn: Connection, opts: MongoStoreOptions = {}): Store {
  return new MongoStore(conn, mongoModels(conn, opts));
}

class MongoStore implements Store {
  readonly #conn: Connection;
  readonly #m: ReturnType<typeof mongoModels>;

  constructor(conn: Connection, models: ReturnType<typeof mongoModels>) {
    this.#conn = conn;
    this.#m = models;
  }

  async createUser(user: UserRecord): Promise<void> {
    checkId(user.id, "id");
    checkTime(user.createdAt, "createdAt");
    const doc: UserDoc = { _id: user.id, nickname: user.nickname, kind: user.kind, createdAt: user.createdAt };
    if (user.email !== undefined) {
      doc.email = user.email;
      doc.emailKey = emailKey(user.email);
    }
    if (user.passwordHash !== undefined) doc.passwordHash = user.passwordHash;
    await this.#run(async () => {
      try {
        await this.#m.User.create(doc);
      } catch (err) {
        if (duplicateKey(err, "emailKey")) throw new VchatError("EMAIL_TAKEN", "this email is registered already");
        throw err;
      }
    });
  }

  async getUser(id: string): Promise<UserRecord | null> {
    return this.#run(async () => toUser(await this.#m.User.findById(String(id)).lean<UserDoc>().exec()));
  }

  async getUserByEmail(email: string): Promise<UserRecord | null> {
    return this.#run(async () =>
      toUser(
        await this.#m.User.findOne({ emailKey: emailKey(String(email)) })
          .lean<UserDoc>()
          .exec(),
      ),
    );
  }

  async createSession(s: Omit<SessionRecord, "endedAt" | "endReason" | "endedBy" | "stats">): Promise<void> {
    checkId(s.id, "id");
    checkParticipants(s.participants);
    checkTime(s.startedAt, "startedAt");
    await this.#run(() =>
      this.#m.Session.create({
        _id: s.id,
        participants: s.participants.map((p) => ({ userId: p.userId, nickname: p.nickname })),
        relayOnly: s.relayOnly,
        sharedInterests: s.sharedInterests,
        startedAt: s.startedAt,
      }),
    );
  }

  async endSession(id: string, end: { at: string; reason: EndReason; by: string | null }): Promise<boolean> {
    checkTime(end.at, "at");
    return this.#run(async () => {
      // The filter on `endedAt: null` makes the first end win even across nodes.
      const result = await this.#m.Session.updateOne(
        { _id: String(id), endedAt: null },
        { $set: { endedAt: end.at, endReason: end.reason, endedBy: end.by ?? null } },
        { runValidators: true },
      ).exec();
      return result.modifiedCount === 1;
    });
  }

  async saveCallStats(sessionId: string, userId: string, stats: CallStats): Promise<void> {
    checkId(userId, "userId");
    checkStats(stats);
    await this.#run(async () => {
      // One $set of one field: both participants can report at once without losing either.
      const result = await this.#m.Session.updateOne(
        { _id: String(sessionId), "participants.userId": userId },
        { $set: { [`stats.${userId}`]: stats } },
      ).exec();
      if (result.matchedCount === 0) throw new VchatError("NOT_FOUND", "no such session with this participant");
    });
  }

  async getSession(id: string): Promise<SessionRecord | null> {
    return this.#run(async () => {
      const doc = await this.#m.Session.findById(String(id)).lean<SessionDoc>().exec();
      return doc ? toSession(doc) : null;
    });
  }

  async listSessions(userId: string, limit: number): Promise<SessionRecord[]> {
    checkLimit(limit);
    if (limit === 0) return [];
    return this.#run(async () => {
      const docs = await this.#m.Session.find({ "participants.userId": String(userId) })
        .sort({ startedAt: -1, _id: -1 })
        .limit(limit)
        .lean<SessionDoc[]>()
        .exec();
      return docs.map(toSession);
    });
  }

  async listOpenSessions(): Promise<SessionRecord[]> {
    return this.#run(async () => {
      const docs = await this.#m.Session.find({ endedAt: null }).sort({ startedAt: 1, _id: 1 }).lean<SessionDoc[]>().exec();
      return docs.map(toSession);
    });
  }

  async addChatMessage(m: ChatRecord): Promise<void> {
    checkId(m.id, "id");
    checkTime(m.at, "at");
    await this.#run(() => this.#m.Chat.create({ messageId: m.id, sessionId: m.sessionId, from: m.from, text: m.text, at: m.at, sentAt: new Date(m.at) }));
  }

  async listChatMessages(sessionId: string): Promise<ChatRecord[]> {
    return this.#run(async () => {
      const docs = await this.#m.Chat.find({ sessionId: String(sessionId) })
        .sort({ at: 1, _id: 1 })
        .lean<ChatDoc[]>()
        .exec();
      return docs.map((d) => ({ id: d.messageId, sessionId: d.sessionId, from: d.from, text: d.text, at: d.at }));
    });
  }

  async addReport(r: ReportRecord): Promise<void> {
    checkId(r.id, "id");
    checkTime(r.at, "at");
    await this.#run(async () => {
      try {
        await this.#m.Report.create({
          _id: r.id,
          sessionId: r.sessionId,
          reporterId: r.reporterId,
          reportedId: r.reportedId,
          reason: r.reason,
          details: r.details ?? null,
          at: r.at,
        });
      } catch (err) {
        if (duplicateKey(err, "reporterId")) throw new VchatError("ALREADY_REPORTED", "you reported this call already");
        throw err;
      }
    });
  }

  async listReports(sessionId: string): Promise<ReportRecord[]> {
    return this.#run(async () => {
      const docs = await this.#m.Report.find({ sessionId: String(sessionId) })
        .sort({ at: 1, _id: 1 })
        .lean<ReportDoc[]>()
        .exec();
      return docs.map(toReport);
    });
  }

  async listReportsSince(since: string | null, limit: number): Promise<ReportRecord[]> {
    if (since !== null) checkTime(since, "since");
    checkLimit(limit);
    if (limit === 0) return [];
    return this.#run(async () => {
      const docs = await this.#m.Report.find(since === null ? {} : { at: { $gte: since } })
        .sort({ at: 1, _id: 1 })
        .limit(limit)
        .lean<ReportDoc[]>()
        .exec();
      return docs.map(toReport);
    });
  }

  async countReporters(reportedId: string, since: string): Promise<number> {
    checkTime(since, "since");
    return this.#run(async () => (await this.#m.Report.distinct("reporterId", { reportedId: String(reportedId), at: { $gte: since } }).exec()).length);
  }

  async addBan(ban: Omit<BanRecord, "liftedAt" | "liftedBy">): Promise<void> {
    checkBan(ban);
    await this.#run(() => this.#m.Ban.create({ _id: ban.id, userId: ban.userId, reason: ban.reason, by: ban.by, at: ban.at, until: ban.until }));
  }

  async liftBans(userId: string, lift: { at: string; by: string }): Promise<number> {
    checkTime(lift.at, "at");
    checkOperator(lift.by, "by");
    return this.#run(async () => {
      const result = await this.#m.Ban.updateMany(
        { userId: String(userId), liftedAt: null, $or: [{ until: null }, { until: { $gt: lift.at } }] },
        { $set: { liftedAt: lift.at, liftedBy: lift.by } },
        { runValidators: true },
      ).exec();
      return result.modifiedCount;
    });
  }

  async activeBan(userId: string, at: string): Promise<BanRecord | null> {
    checkTime(at, "at");
    return this.#run(async () => {
      const docs = await this.#m.Ban.find({ userId: String(userId), liftedAt: null, at: { $lte: at }, $or: [{ until: null }, { until: { $gt: at } }] })
        .lean<BanDoc[]>()
        .exec();
      // A ban without an end outlasts any other; then the one ending last.
      docs.sort((a, b) => (a.until === null ? -1 : b.until === null ? 1 : b.until.localeCompare(a.until)));
      return docs[0] ? toBan(docs[0]) : null;
    });
  }

  async listBans(userId: string): Promise<BanRecord[]> {
    return this.#run(async () => {
      const docs = await this.#m.Ban.find({ userId: String(userId) })
        .sort({ at: -1, _id: -1 })
        .lean<BanDoc[]>()
        .exec();
      return docs.map(toBan);
    });
  }

  async addBlock(blockerId: string, blockedId: string, at: string): Promise<void> {
    checkBlock(blockerId, blockedId, at);
    await this.#run(async () => {
      try {
        // The first block's time is kept.
        await this.#m.Block.updateOne({ blockerId, blockedId }, { $setOnInsert: { at } }, { upsert: true, runValidators: true }).exec();
      } catch (err) {
        // Two upserts racing: the other one inserted it, which is what we wanted.
        if (!duplicateKey(err)) throw err;
      }
    });
  }

  async listBlockedEitherWay(userId: string): Promise<string[]> {
    const id = String(userId);
    return this.#run(async () => {
      const docs = await this.#m.Block.find({ $or: [{ blockerId: id }, { blockedId: id }] }, { blockerId: 1, blockedId: 1, _id: 0 })
        .lean<BlockDoc[]>()
        .exec();
      return [...new Set(docs.map((d) => (d.blockerId === id ? d.blockedId : d.blockerId)))];
    });
  }

  async ping(): Promise<void> {
    const db = this.#conn.db;
    if (this.#conn.readyState !== mongoose.ConnectionStates.connected || !db) throw unavailable();
    await this.#run(() => db.command({ ping: 1 }));
  }

  async close(): Promise<void> {
    await this.#conn.close();
  }

  /** Runs one database call and gives its failure a stable code where it has one. */
  async #run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (err instanceof VchatError) throw err;
      if (err instanceof mongoose.Error.ValidationError) {
        // The message names fields, never their values.
        throw invalid(`invalid record (${Object.keys(err.errors).join(", ")})`);
      }
      if (err instanceof mongoose.Error.CastError || err instanceof mongoose.Error.StrictModeError) {
        throw invalid(`invalid record (${err.path})`);
      }
      // Unreachable or closed: clients get 503 UNAVAILABLE, the cause goes to the log as `cause`.
      if (this.#conn.readyState !== mongoose.ConnectionStates.connected || isNetworkError(err)) throw unavailable(err);
      throw err;
    }
  }
}

function unavailable(cause?: unknown): VchatError {
  const err = new VchatError("UNAVAILABLE", "the database cannot be reached");
  if (cause !== undefined) err.cause = cause;
  return err;
}

function isNetworkError(err: unknown): boolean {
  const { MongoNetworkError, MongoServerSelectionError, MongoNotConnectedError, MongoTopologyClosedError } = mongoose.mongo;
  return (
    err instanceof MongoNetworkError ||
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoTopologyClosedError
  );
}

function toUser(doc: UserDoc | null): UserRecord | null {
  if (!doc) return null;
  const user: UserRecord = { id: doc._id, nickname: doc.nickname, kind: doc.kind, createdAt: doc.createdAt };
  // Absent optional fields stay absent, so records round-trip exactly.
  if (doc.email != null) user.email = doc.email;
  if (doc.passwordHash != null) user.passwordHash = doc.passwordHash;
  return user;
}

function toReport(d: ReportDoc): ReportRecord {
  return { id: d._id, sessionId: d.sessionId, reporterId: d.reporterId, reportedId: d.reportedId, reason: d.reason, details: d.details ?? null, at: d.at };
}

function toBan(d: BanDoc): BanRecord {
  return {
    id: d._id,
    userId: d.userId,
    reason: d.reason,
    by: d.by,
    at: d.at,
    until: d.until ?? null,
    liftedAt: d.liftedAt ?? null,
    liftedBy: d.liftedBy ?? null,
  };
}

function toSession(doc: SessionDoc): SessionRecord {
  const [a, b] = doc.participants;
  return {
    id: doc._id,
    participants: [
      { userId: a!.userId, nickname: a!.nickname },
      { userId: b!.userId, nickname: b!.nickname },
    ],
    relayOnly: doc.relayOnly,
    sharedInterests: [...(doc.sharedInterests ?? [])],
    startedAt: doc.startedAt,
    endedAt: doc.endedAt ?? null,
    endReason: doc.endReason ?? null,
    endedBy: doc.endedBy ?? null,
    stats: doc.stats ?? {},
  };
}

function duplicateKey(err: unknown, field?: string): boolean {
  const e = err as { code?: number; keyPattern?: Record<string, unknown> };
  return e?.code === 11000 && (field === undefined || (e.keyPattern !== undefined && field in e.keyPattern));
}
