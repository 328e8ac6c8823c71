import { z } from "zod";
import { iceUrlSchema } from "../turn/urls.ts";

/**
 * The server's configuration: one typed, frozen object, parsed once at start-up.
 * Standard options first; tuning knobs under `tuning`.
 */
export const serverConfigSchema = z.object({
  host: z.string().min(1).default("127.0.0.1"),
  port: z.number().int().min(0).max(65535).default(8080),
  /** Signs the JWTs; at least 32 characters. Never logged. */
  jwtSecret: z.string().min(32, "jwtSecret must be at least 32 characters"),
  /** Lifetime of issued tokens. */
  tokenTtlSeconds: z.number().int().positive().default(24 * 3600),
  /** TURN servers using coturn's `use-auth-secret`; null when there is none. */
  turn: z
    .object({
      secret: z.string().min(16, "turn.secret must be at least 16 characters"),
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
  /** Behind a load balancer: trust X-Forwarded-* for client addresses. */
  trustProxy: z.boolean().default(false),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  tuning: z
    .object({
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
      /** Guest and register calls per minute per client address. */
      signupsPerMinute: z.number().int().positive().default(30),
    })
    .default({
      interestWaitMs: 5000,
      rematchCooldownMs: 15000,
      sweepIntervalMs: 250,
      eventsPerSecond: 100,
      abuseSeconds: 3,
      socketsPerUser: 3,
      reportsPerMinute: 5,
      blocksPerMinute: 20,
      statsPerMinute: 60,
      chatPer10s: 20,
      loginFailures: 5,
      signupsPerMinute: 30,
    }),
});

export type ServerConfig = Readonly<z.output<typeof serverConfigSchema>>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

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
