import { restClient, type AuthResponse, type ReportReason, type ReportResponse } from "../../protocol/index.ts";

/**
 * A failed REST call: `code` is the server's stable code, or `NETWORK` when it was unreachable
 * (see `RestError` for the others).
 */
export { RestError as ApiError } from "../../protocol/index.ts";

/** The page's own origin serves the API. */
const api = (token?: string) => restClient({ baseUrl: "", token });

export function guestLogin(nickname: string | undefined): Promise<AuthResponse> {
  return api().call("guest", nickname ? { nickname } : {});
}

export function sendReport(token: string, sessionId: string, reason: ReportReason, details?: string): Promise<ReportResponse> {
  return api(token).call("report", { sessionId, reason, ...(details ? { details } : {}) });
}

export function blockUser(token: string, userId: string): Promise<void> {
  return api(token).call("block", { userId });
}
