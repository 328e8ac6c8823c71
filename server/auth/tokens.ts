import jwt from "jsonwebtoken";
import { VchatError } from "../../protocol/index.ts";

export interface TokenClaims {
  /** User id. */
  sub: string;
  nickname: string;
  kind: "guest" | "registered";
  /** Expiry, seconds since the epoch (as in the JWT). */
  exp?: number;
}

/** HS256 only: the algorithm is pinned on both sides, so `alg: none` and key confusion fail. */
const algorithm = "HS256" as const;

export function signToken(claims: TokenClaims, secret: string, ttlSeconds: number): string {
  return jwt.sign({ nickname: claims.nickname, kind: claims.kind }, secret, {
    algorithm,
    subject: claims.sub,
    expiresIn: ttlSeconds,
    issuer: "vchat",
  });
}

/** Throws `VchatError("UNAUTHENTICATED")` for a missing, malformed, forged or expired token. */
export function verifyToken(token: unknown, secret: string): TokenClaims {
  if (typeof token !== "string" || token.length === 0 || token.length > 4096) {
    throw new VchatError("UNAUTHENTICATED", "a bearer token is required");
  }
  let payload: jwt.JwtPayload | string;
  try {
    payload = jwt.verify(token, secret, { algorithms: [algorithm], issuer: "vchat" });
  } catch (err) {
    const expired = err instanceof jwt.TokenExpiredError;
    throw new VchatError("UNAUTHENTICATED", expired ? "the token has expired" : "the token is not valid");
  }
  if (typeof payload === "string" || typeof payload.sub !== "string" || typeof payload.nickname !== "string") {
    throw new VchatError("UNAUTHENTICATED", "the token is not valid");
  }
  return { sub: payload.sub, nickname: payload.nickname, kind: payload.kind === "registered" ? "registered" : "guest", exp: payload.exp };
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return m?.[1];
}
