import type { z } from "zod";
import { VchatError, type ErrorBody } from "../protocol/index.ts";
import type { Logger } from "./log.ts";

/** Validates untrusted input at the edge. Throws VALIDATION_FAILED (or PAYLOAD_TOO_LARGE) with a safe message. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  const tooBig = result.error.issues.some((i) => i.code === "too_big" && (i.origin === "string" || i.origin === "array"));
  return fail(tooBig ? "PAYLOAD_TOO_LARGE" : "VALIDATION_FAILED", `${where}${issue?.message ?? "invalid input"}`);
}

function fail(code: "PAYLOAD_TOO_LARGE" | "VALIDATION_FAILED", message: string): never {
  throw new VchatError(code, message);
}

/** Maps anything thrown to what a client may see: a VchatError as is, anything else as INTERNAL (logged, never shown). */
export function toErrorBody(err: unknown, logger: Logger): ErrorBody {
  if (err instanceof VchatError) return err.toBody();
  logger.error({ err }, "unexpected error");
  return { code: "INTERNAL", message: "something went wrong on our side" };
}
