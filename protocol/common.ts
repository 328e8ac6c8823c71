import { z } from "zod";
import { limits } from "./limits.ts";
import { interestProblem, nicknameProblem, normaliseNickname } from "./text.ts";

/** Adds the issue a `*Problem` function of `text.ts` finds, if any. */
export const refuse = (problem: (s: string) => string | null) => (s: string, ctx: z.RefinementCtx) => {
  const message = problem(s);
  if (message) ctx.addIssue({ code: "custom", message });
};

// Operator text (ban reasons): no control characters and no bidi overrides. What users type for
// other users follows `text.ts` instead.
export const printable = /^[^\p{Cc}\p{Cs}\u202A-\u202E\u2066-\u2069]*$/u;

export const id = z
  .string()
  .min(1)
  .max(limits.idMax)
  .regex(/^[A-Za-z0-9_-]+$/, "must be an id");

/** A name other users see: see `text.ts` for what it may contain. */
export const nickname = z.string().overwrite(normaliseNickname).min(1).max(limits.nicknameMax).superRefine(refuse(nicknameProblem));

/** Interests are matched case-insensitively, so they are normalised at the edge. */
export const interest = z.string().trim().toLowerCase().min(1).max(limits.interestMax).superRefine(refuse(interestProblem));

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
