import { randomBytes } from "node:crypto";
import { z } from "zod";
import { iceUrlSchema } from "../turn/urls.ts";

/** The shortest secrets accepted, wherever they come from (environment, `secrets.json`, options). */
export const secretMinLength = { jwt: 32, turn: 16, admin: 32 } as const;

/** How often nodes beat and judge each other (cluster presence, `cluster/presence.ts`). */
const presenceSchema = z.object({
  /** How often the node says it is alive. */
  heartbeatMs: z.number().int().min(10).default(1000),
  /** A node silent this long is dead: the others end its calls and take its users out of the queue. */
  deadAfterMs: z.number().int().min(30).default(3000),
  /** How often a node looks for dead ones. */
  reapIntervalMs: z.number().int().min(10).default(500),
});

/** Tuning knobs: sensible defaults, changed for tests, benches and `vchat dev`'s preset. */
const tuningSchema = z.object({
  interestWaitMs: z.number().int().min(0).default(5000),
  rematchCooldownMs: z.number().int().min(0).default(15000),
  /** How often waiting users whose interest wait ran out are paired. */
  sweepIntervalMs: z.number().int().min(10).default(250),
  /** Socket events per second per socket (every event, unknown names included) before RATE_LIMITED. */
  eventsPerSecond: z.number().int().positive().default(100),
  /** Seconds running over `eventsPerSecond` before the socket is disconnected. */
  abuseSeconds: z.number().int().positive().default(3),
  /** Open sockets per user across all nodes; a new one closes the oldest beyond it. */
  socketsPerUser: z.number().int().positive().default(3),
  /** Per user per minute, across nodes: `POST /api/reports`, `POST /api/blocks`, `call:stats`. */
  reportsPerMinute: z.number().int().positive().default(5),
  blocksPerMinute: z.number().int().positive().default(20),
  statsPerMinute: z.number().int().positive().default(60),
  /** Chat messages per 10 s per socket. */
  chatPer10s: z.number().int().positive().default(20),
  /** Failed logins per email and address before a 15 minute lock-out. */
  loginFailures: z.number().int().positive().default(5),
  /** Failed logins per address across all emails (password spraying) before a 15 minute lock-out. */
  loginFailuresPerAddress: z.number().int().positive().default(20),
  /** Guest and register calls per minute per client address. */
  signupsPerMinute: z.number().int().positive().default(30),
  /** How long an account check (exists, not banned) is reused: a ban reaches every node within it. */
  accountCheckMs: z.number().int().min(0).default(2000),
  /**
   * How often each node checks the accounts of its idle sockets too (an account deleted or
   * banned outside the admin API, while its socket sends nothing). One store read per user
   * not checked lately.
   */
  accountSweepMs: z.number().int().min(100).default(30_000),
  /** Different users reporting one user within `autoBanWindowSeconds` that ban them automatically; 0 is off. */
  autoBanReporters: z.number().int().min(0).default(0),
  autoBanWindowSeconds: z.number().int().positive().default(3600),
  /** How long an automatic ban lasts. */
  autoBanSeconds: z.number().int().positive().default(86_400),
  presence: presenceSchema.prefault({}),
  /**
   * With Redis: a waiting user not touched for this long drops out of the queue. Nodes touch
   * their waiting users every heartbeat, so a crashed node's waiters drop out soon.
   */
  queueTtlMs: z.number().int().min(0).default(15_000),
  /** How often a store in another process (MongoDB, or a given one) is checked. */
  storeCheckMs: z.number().int().min(10).default(2000),
  /** How long MongoDB operations wait for a reachable server before failing. */
  mongoTimeoutMs: z.number().int().positive().default(5000),
  /** At stop, connections still open this long after the port closed are cut (a half-sent request). */
  shutdownGraceMs: z.number().int().min(0).default(3000),
});

/**
 * The node's configuration: one typed, frozen object, parsed once at start-up, holding every
 * default once. Standard options first; tuning knobs under `tuning`.
 */
export const serverConfigSchema = z
  .object({
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(8080),
    /** Unique per node of one service. @default random */
    nodeId: z
      .string()
      .regex(/^[\w.-]{1,64}$/, "nodeId: letters, digits, '.', '-' or '_', at most 64")
      .default(() => randomBytes(6).toString("hex")),
    /** Signs the JWTs; at least `secretMinLength.jwt` characters. Never logged. */
    jwtSecret: z.string().min(secretMinLength.jwt, `jwtSecret must be at least ${secretMinLength.jwt} characters`),
    /**
     * Checks the operator's admin tokens (`vchat admin token`); null turns the admin API off.
     * At least `secretMinLength.admin` characters, and not the JWT secret. Never logged.
     */
    adminSecret: z.string().min(secretMinLength.admin, `adminSecret must be at least ${secretMinLength.admin} characters`).nullable().default(null),
    /** Lifetime of issued tokens. */
    tokenTtlSeconds: z
      .number()
      .int()
      .positive()
      .default(24 * 3600),
    /** TURN servers using coturn's `use-auth-secret`; null when there is none. */
    turn: z
      .object({
        secret: z.string().min(secretMinLength.turn, `turn.secret must be at least ${secretMinLength.turn} characters`),
        urls: z.array(iceUrlSchema("turn")).min(1),
        /** Lifetime of the TURN credentials that `/api/ice` and `match:found` hand out. */
        ttlSeconds: z.number().int().min(60).default(3600),
      })
      .nullable()
      .default(null),
    stunUrls: z.array(iceUrlSchema("stun")).default([]),
    /** Origins allowed to call the API from a browser; same-origin needs none. */
    corsOrigins: z.array(z.string()).default([]),
    /** Folder of the built web client to serve; null serves none. */
    webDir: z.string().nullable().default(null),
    /**
     * Proxies in front of the node that append to X-Forwarded-For: the client address is the entry
     * this many hops from the right, never one the client wrote itself. 0 trusts none (direct
     * clients); 1 behind one load balancer; 2 behind CloudFront and the ALB.
     * @default 0
     */
    trustProxyHops: z.number().int().min(0).max(5).default(0),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** SQLite file (or ":memory:") for what is kept, when there is no MongoDB. */
    db: z.string().min(1).default(".vchat/vchat.db"),
    /** `mongodb://` or `mongodb+srv://`: what is kept lives there instead of SQLite. */
    mongo: z.string().nullable().default(null),
    /** Chat retention in MongoDB, in days (the store's default when unset). */
    chatRetentionDays: z.number().positive().optional(),
    /** `redis://` or `rediss://`: matching, presence, events between nodes and shared rate limits live there. */
    redis: z.string().nullable().default(null),
    /** Put before every Redis key (`redisKeys`); nodes of one service share it, two services on one Redis differ. */
    keyPrefix: z
      .string()
      .regex(/^[^\s{}]{1,64}$/, "keyPrefix: at most 64 characters, no spaces or braces")
      .default("vchat"),
    tuning: tuningSchema.prefault({}),
  })
  .refine((c) => c.adminSecret === null || c.adminSecret !== c.jwtSecret, { message: "adminSecret must differ from jwtSecret", path: ["adminSecret"] });

export type ServerConfig = Readonly<z.output<typeof serverConfigSchema>>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;
export type Tuning = ServerConfig["tuning"];
type TuningInput = z.input<typeof tuningSchema>;

/** Every tuning default, from the schema: the one place they are written. */
export const defaultTuning: Tuning = deepFreeze(tuningSchema.parse({}));

/**
 * `vchat dev`'s preset, for every node it starts: everyone is on this machine (browsers, bots),
 * so per-address sign-up limits would only get in the way.
 */
export const devTuning: TuningInput = { signupsPerMinute: 100_000 };

/** Validates the configuration once; throws one error listing every bad field. */
export function parseConfig(input: ServerConfigInput): ServerConfig {
  const result = serverConfigSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(config)"}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join("\n")}`);
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
