import jwt from "jsonwebtoken";
import { VchatError, operatorName } from "../../protocol/index.ts";

/**
 * Admin tokens: HS256 JWTs signed with the admin secret, for audience `vchat-admin`, naming the
 * operator as subject. A user's token is signed with the JWT secret and has no such audience, so
 * it never passes here (and the config refuses an admin secret equal to the JWT secret).
 */
const audience = "vchat-admin";
const issuer = "vchat";
const algorithm = "HS256" as const;

/** @default ttlSeconds 3600 */
export function signAdminToken(secret: string, operator: string, ttlSeconds = 3600): string {
  const name = operatorName.safeParse(operator);
  if (!name.success) throw new VchatError("VALIDATION_FAILED", `operator name ${name.error.issues[0]?.message ?? "is not valid"}`);
  return jwt.sign({}, secret, { algorithm, audience, issuer, subject: operator, expiresIn: ttlSeconds });
}

/** The operator named in a valid admin token; FORBIDDEN for anything else (a user's token included). */
export function verifyAdminToken(token: string | undefined, secret: string): string {
  if (!token || token.length > 4096) throw new VchatError("UNAUTHENTICATED", "an admin token is required");
  let payload: jwt.JwtPayload | string;
  try {
    payload = jwt.verify(token, secret, { algorithms: [algorithm], audience, issuer });
  } catch (err) {
    throw new VchatError("FORBIDDEN", err instanceof jwt.TokenExpiredError ? "the admin token has expired" : "not an admin token");
  }
  const name = typeof payload === "string" ? undefined : operatorName.safeParse(payload.sub);
  if (!name?.success) throw new VchatError("FORBIDDEN", "not an admin token");
  return name.data;
}
