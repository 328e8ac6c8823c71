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
  /**
   * Checks the operator's admin tokens (`vchat admin token`); null turns the admin API off.
   * At least 32 characters, and not the JWT secret. Never logged.
   */
  adminSecret: z.string().min(32, "adminSecret must be at least 32 characters").nullable().default(null),
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
      /** Socket events per second per socket before RATE_LIMITED. */
      eventsPerSecond: z.number().int().positive().default(100),
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
    })
    .default({
      interestWaitMs: 5000,
      rematchCooldownMs: 15000,
      sweepIntervalMs: 250,
      eventsPerSecond: 100,
      chatPer10s: 20,
      loginFailures: 5,
      loginFailuresPerAddress: 20,
      signupsPerMinute: 30,
      accountCheckMs: 2000,
      accountSweepMs: 30_000,
      autoBanReporters: 0,
      autoBanWindowSeconds: 3600,
      autoBanSeconds: 86_400,
    }),
})
  .refine((c) => c.adminSecret === null || c.adminSecret !== c.jwtSecret, { message: "adminSecret must differ from jwtSecret", path: ["adminSecret"] });

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
