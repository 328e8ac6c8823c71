import { z } from "zod";
import { limits } from "./limits.ts";

// Strings reaching other users: no control characters (they break layouts and logs) and no
// bidi overrides (they make a name read as something else). Emoji joiners stay allowed.
export const printable = /^[^\p{Cc}\p{Cs}\u202A-\u202E\u2066-\u2069]*$/u;

export const id = z.string().min(1).max(limits.idMax).regex(/^[A-Za-z0-9_-]+$/, "must be an id");

export const nickname = z
  .string()
  .trim()
  .min(1)
  .max(limits.nicknameMax)
  .regex(printable, "must not contain control characters");

/** Interests are matched case-insensitively, so they are normalised at the edge. */
export const interest = z
  .string()
  .trim()
  .toLowerCase()
  .min(1)
  .max(limits.interestMax)
  .regex(printable, "must not contain control characters");

export const interests = z
  .array(interest)
  .max(limits.interestsMax)
  .transform((list) => [...new Set(list)]);

/** An ICE server as in `RTCIceServer`. */
export const iceServer = z.object({
  urls: z.union([z.string(), z.array(z.string())]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
export type IceServer = z.infer<typeof iceServer>;

export const iceTransportPolicies = ["all", "relay"] as const;
export type IceTransportPolicy = (typeof iceTransportPolicies)[number];

export const userKinds = ["guest", "registered"] as const;

export const user = z.object({
  id,
  nickname: z.string(),
  kind: z.enum(userKinds),
  email: z.string().optional(),
  createdAt: z.string(),
});
export type User = z.infer<typeof user>;

export const peer = z.object({ id, nickname: z.string() });
export type Peer = z.infer<typeof peer>;
