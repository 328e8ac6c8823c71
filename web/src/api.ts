import type { AuthResponse, BlockBody, ErrorResponse, ReportReason, ReportResponse } from "../../protocol/index.ts";
import { paths } from "../../protocol/rest.ts";

/** A failed REST call: `code` is the server's stable code, or `NETWORK` when it was unreachable. */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

async function call<T>(path: string, init: { method?: string; token?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (init.body !== undefined) headers["content-type"] = "application/json";
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let res: Response;
  try {
    res = await fetch(path, {
      method: init.method ?? (init.body === undefined ? "GET" : "POST"),
      headers,
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
  } catch {
    throw new ApiError("NETWORK", "The server cannot be reached.", 0);
  }
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    // A proxy's HTML error page: reported below by status.
  }
  if (!res.ok) {
    const err = (data as Partial<ErrorResponse> | undefined)?.error;
    // 502/503/504 from a proxy in front of a dead node means the same as no answer at all.
    const code = err?.code ?? (res.status >= 502 ? "NETWORK" : "INTERNAL");
    throw new ApiError(code, err?.message ?? `The server answered ${res.status}.`, res.status);
  }
  return data as T;
}

export function guestLogin(nickname: string | undefined): Promise<AuthResponse> {
  return call<AuthResponse>(paths.guest, { body: nickname ? { nickname } : {} });
}

export function sendReport(token: string, sessionId: string, reason: ReportReason, details?: string): Promise<ReportResponse> {
  return call<ReportResponse>(paths.reports, { token, body: { sessionId, reason, ...(details ? { details } : {}) } });
}

export function blockUser(token: string, userId: string): Promise<unknown> {
  const body: BlockBody = { userId };
  return call<unknown>(paths.blocks, { token, body });
}
