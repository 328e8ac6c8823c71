import { z } from "zod";

/**
 * Every error a client can see. Codes are stable: clients branch on them, messages are for people.
 */
export const errorCodes = [
  "VALIDATION_FAILED",
  "PAYLOAD_TOO_LARGE",
  "UNAUTHENTICATED",
  "INVALID_CREDENTIALS",
  "EMAIL_TAKEN",
  "FORBIDDEN",
  "BANNED",
  "NOT_FOUND",
  "RATE_LIMITED",
  /** This user opened more sockets than allowed; sent to the oldest before it is closed. */
  "TOO_MANY_CONNECTIONS",
  /** One report per reporter and call. */
  "ALREADY_REPORTED",
  "NOT_IN_SESSION",
  "ALREADY_IN_CALL",
  "UNAVAILABLE",
  "INTERNAL",
] as const;
export type ErrorCode = (typeof errorCodes)[number];

/**
 * Codes a client sets itself; the server never sends them: no answer in time, the server cannot be
 * reached, or it answered something the protocol does not allow.
 */
export const clientErrorCodes = ["TIMEOUT", "NETWORK", "BAD_RESPONSE"] as const;
export type ClientErrorCode = (typeof clientErrorCodes)[number];

/** HTTP status for each code, used by the REST error middleware. */
export const httpStatus: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHENTICATED: 401,
  INVALID_CREDENTIALS: 401,
  EMAIL_TAKEN: 409,
  FORBIDDEN: 403,
  BANNED: 403,
  NOT_FOUND: 404,
  RATE_LIMITED: 429,
  TOO_MANY_CONNECTIONS: 429,
  ALREADY_REPORTED: 409,
  NOT_IN_SESSION: 409,
  ALREADY_IN_CALL: 409,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export const errorBody = z.object({ code: z.enum(errorCodes), message: z.string() });
export type ErrorBody = z.infer<typeof errorBody>;

/** REST error response: `{error: {code, message}}`. */
export const errorResponse = z.object({ error: errorBody });
/** @public the wire type for clients (`RestError` carries it parsed) */
export type ErrorResponse = z.infer<typeof errorResponse>;

/** An ack is a tagged result: `{ok: true, ...}` or `{ok: false, error}`. */
export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };
export type AckFn<T extends object = object> = (result: Ack<T>) => void;

/** An error that carries a stable code and a message that is safe to show to a client. */
export class VchatError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "VchatError";
    this.code = code;
  }
  toBody(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}
