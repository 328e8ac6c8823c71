import { z } from "zod";
import { limits } from "./limits.ts";
import { id, iceServer, iceTransportPolicies, nickname, peer, user } from "./common.ts";
import { endReasons } from "./events.ts";

/** REST paths. `public` ones need no bearer token. */
export const paths = {
  guest: "/api/auth/guest",
  register: "/api/auth/register",
  login: "/api/auth/login",
  me: "/api/me",
  ice: "/api/ice",
  sessions: "/api/sessions",
  reports: "/api/reports",
  blocks: "/api/blocks",
  healthz: "/healthz",
  readyz: "/readyz",
  metrics: "/metrics",
} as const;

const email = z.string().trim().toLowerCase().max(limits.emailMax).pipe(z.email());
const password = z.string().min(limits.passwordMin).max(limits.passwordMax);

export const guestBody = z.object({ nickname: nickname.optional() });
export const registerBody = z.object({ email, password, nickname });
export const loginBody = z.object({ email, password: z.string().min(1).max(limits.passwordMax) });
export type GuestBody = z.infer<typeof guestBody>;
export type RegisterBody = z.infer<typeof registerBody>;
export type LoginBody = z.infer<typeof loginBody>;

export const authResponse = z.object({ token: z.string(), user });
export type AuthResponse = z.infer<typeof authResponse>;

export const iceResponse = z.object({
  iceServers: z.array(iceServer),
  ttlSeconds: z.number().int().positive(),
  iceTransportPolicy: z.enum(iceTransportPolicies).optional(),
});
export type IceResponse = z.infer<typeof iceResponse>;

export const sessionSummary = z.object({
  id,
  peer,
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  endReason: z.enum(endReasons).nullable(),
  relayOnly: z.boolean(),
});
export type SessionSummary = z.infer<typeof sessionSummary>;
export const sessionsResponse = z.object({ sessions: z.array(sessionSummary) });
export type SessionsResponse = z.infer<typeof sessionsResponse>;

export const reportReasons = ["nudity", "harassment", "hate", "spam", "underage", "violence", "other"] as const;
export type ReportReason = (typeof reportReasons)[number];
export const reportBody = z.object({
  sessionId: id,
  reason: z.enum(reportReasons),
  details: z.string().trim().max(limits.reportDetailsMax).optional(),
});
export type ReportBody = z.infer<typeof reportBody>;
export const reportResponse = z.object({ id });
export type ReportResponse = z.infer<typeof reportResponse>;

export const blockBody = z.object({ userId: id });
/** @public the wire type for clients */
export type BlockBody = z.infer<typeof blockBody>;

export const healthResponse = z.object({ ok: z.literal(true) });
export type HealthResponse = z.infer<typeof healthResponse>;

export const readyResponse = z.object({
  ready: z.boolean(),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
});
export type ReadyResponse = z.infer<typeof readyResponse>;
