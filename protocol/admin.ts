import { z } from "zod";
import { limits } from "./limits.ts";
import { id, printable } from "./common.ts";
import { reportReasons } from "./rest.ts";

/**
 * The operator's admin API, driven by `vchat admin`. Every call carries an admin token
 * (`Authorization: Bearer <admin token>`, made by `vchat admin token` from the admin secret);
 * a user's token is never accepted here.
 */
export const adminPaths = {
  reports: "/api/admin/reports",
  bans: "/api/admin/bans",
  unbans: "/api/admin/unbans",
} as const;

/** An ISO time like 2026-01-31T12:00:00.000Z (as `Date.toISOString()` writes it). */
const isoTime = z.iso.datetime({ offset: false, precision: 3 });

export const adminReportsQuery = z.object({
  /** Reports filed at or after this time. */
  since: isoTime.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export type AdminReportsQuery = z.infer<typeof adminReportsQuery>;

export const adminReport = z.object({
  id,
  sessionId: id,
  reporterId: id,
  reportedId: id,
  reason: z.enum(reportReasons),
  details: z.string().nullable(),
  at: z.string(),
});
/** @public the wire type for admin clients */
export type AdminReport = z.infer<typeof adminReport>;
export const adminReportsResponse = z.object({ reports: z.array(adminReport) });
export type AdminReportsResponse = z.infer<typeof adminReportsResponse>;

/** Ten years: longer is "until lifted" (no `forSeconds`). */
const maxBanSeconds = 10 * 365 * 86_400;

export const banBody = z.object({
  userId: id,
  reason: z.string().trim().min(1).max(limits.banReasonMax).regex(printable, "must not contain control characters"),
  /** How long the ban lasts; without it, until it is lifted. */
  forSeconds: z.number().int().min(1).max(maxBanSeconds).optional(),
});
export type BanBody = z.infer<typeof banBody>;

export const unbanBody = z.object({ userId: id });
/** @public the wire type for admin clients */
export type UnbanBody = z.infer<typeof unbanBody>;

export const ban = z.object({
  id,
  userId: id,
  reason: z.string(),
  /** Who banned: the operator named in the admin token, or `auto` for an automatic ban. */
  by: z.string(),
  at: z.string(),
  /** When it ends by itself; null lasts until lifted. */
  until: z.string().nullable(),
  liftedAt: z.string().nullable(),
  liftedBy: z.string().nullable(),
});
export type Ban = z.infer<typeof ban>;

export const banResponse = z.object({ ban });
/** @public the wire type for admin clients */
export type BanResponse = z.infer<typeof banResponse>;
export const unbanResponse = z.object({ userId: id, lifted: z.number().int().nonnegative() });
export type UnbanResponse = z.infer<typeof unbanResponse>;

/** The operator's name in an admin token: who did what, kept with each ban and unban. */
export const operatorName = z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, "must be 1-64 letters, digits, or _ . @ -");
