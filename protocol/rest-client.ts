/**
 * The REST client every client of the service uses (bots, doctor, `vchat admin`, tests, bench,
 * the web client): one table of routes binding each path to its method and schemas, and one
 * `fetch`-based call that checks every answer against the protocol's schemas.
 */
import type { z } from "zod";
import { adminPaths, adminReportsQuery, adminReportsResponse, banBody, banResponse, unbanBody, unbanResponse } from "./admin.ts";
import { user } from "./common.ts";
import { errorResponse, type ClientErrorCode, type ErrorCode } from "./errors.ts";
import {
  authResponse,
  blockBody,
  guestBody,
  healthResponse,
  iceResponse,
  loginBody,
  paths,
  readyResponse,
  registerBody,
  reportBody,
  reportResponse,
  sessionsResponse,
} from "./rest.ts";

interface Route {
  method: "GET" | "POST";
  path: string;
  /** The JSON body of a POST. */
  body?: z.ZodType;
  /** The query string of a GET. */
  query?: z.ZodType;
  /** The schema of a successful answer; `null` for one without a body (204). */
  response: z.ZodType | null;
  /** Statuses outside 2xx whose body is still `response` (`/readyz` answers 503 with its checks). */
  answersOn?: readonly number[];
}

/** Every REST route a client calls (`/metrics` is Prometheus text, not the protocol's JSON). */
export const restRoutes = {
  guest: { method: "POST", path: paths.guest, body: guestBody, response: authResponse },
  register: { method: "POST", path: paths.register, body: registerBody, response: authResponse },
  login: { method: "POST", path: paths.login, body: loginBody, response: authResponse },
  me: { method: "GET", path: paths.me, response: user },
  ice: { method: "GET", path: paths.ice, response: iceResponse },
  sessions: { method: "GET", path: paths.sessions, response: sessionsResponse },
  report: { method: "POST", path: paths.reports, body: reportBody, response: reportResponse },
  block: { method: "POST", path: paths.blocks, body: blockBody, response: null },
  health: { method: "GET", path: paths.healthz, response: healthResponse },
  ready: { method: "GET", path: paths.readyz, response: readyResponse, answersOn: [503] },
  adminReports: { method: "GET", path: adminPaths.reports, query: adminReportsQuery, response: adminReportsResponse },
  ban: { method: "POST", path: adminPaths.bans, body: banBody, response: banResponse },
  unban: { method: "POST", path: adminPaths.unbans, body: unbanBody, response: unbanResponse },
} as const satisfies Record<string, Route>;

export type RouteName = keyof typeof restRoutes;
type RouteOf<N extends RouteName> = (typeof restRoutes)[N];

/** What a route takes: its body (POST) or its query (GET); `void` when it takes nothing. */
export type RestInput<N extends RouteName> =
  RouteOf<N> extends { body: infer S extends z.ZodType } ? z.input<S> : RouteOf<N> extends { query: infer S extends z.ZodType } ? z.input<S> : void;

/** What a route answers, as its schema parsed it. */
export type RestOutput<N extends RouteName> = RouteOf<N>["response"] extends z.ZodType ? z.output<RouteOf<N>["response"]> : void;

/**
 * A failed REST call. `code` is the server's stable code when it answered with an error body;
 * otherwise `NETWORK` (unreachable, or a proxy's 502/503/504 for a node that is gone), `TIMEOUT`,
 * or `BAD_RESPONSE` (an answer the protocol does not allow). `status` is 0 without an HTTP answer.
 */
export class RestError extends Error {
  readonly code: ErrorCode | ClientErrorCode;
  readonly status: number;
  /** The route's path, e.g. `/api/ice`. */
  readonly path: string;
  constructor(code: ErrorCode | ClientErrorCode, message: string, { status, path, cause }: { status: number; path: string; cause?: unknown }) {
    super(message, { cause });
    this.name = "RestError";
    this.code = code;
    this.status = status;
    this.path = path;
  }
}

export interface RestClientOptions {
  /** The service's origin, e.g. `http://127.0.0.1:8080`; `""` for the page's own origin (browser). */
  baseUrl: string;
  /** A user's JWT, or an admin token for the admin routes. */
  token?: string;
  /** How long one call may take. @default 10_000 */
  timeoutMs?: number;
}

export interface RestClient {
  /**
   * Calls a route and resolves to its answer, checked against the route's schema; rejects with a
   * `RestError`.
   * @example const { iceServers } = await restClient({ baseUrl, token }).call("ice");
   */
  call<N extends RouteName>(route: N, input: RestInput<N>): Promise<RestOutput<N>>;
}

export function restClient({ baseUrl, token, timeoutMs = 10_000 }: RestClientOptions): RestClient {
  const origin = baseUrl.replace(/\/+$/, "");
  return {
    async call<N extends RouteName>(name: N, input: RestInput<N>): Promise<RestOutput<N>> {
      const route: Route = restRoutes[name];
      const path = route.path;
      const what = `${route.method} ${path}`;
      const fail = (code: ErrorCode | ClientErrorCode, message: string, status: number, cause?: unknown) =>
        new RestError(code, message, { status, path, cause });
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (route.body) headers["content-type"] = "application/json";
      let res: Response;
      try {
        res = await fetch(origin + path + (route.query ? queryString(input) : ""), {
          method: route.method,
          headers,
          body: route.body ? JSON.stringify(input ?? {}) : undefined,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        if ((err as Error).name === "TimeoutError") throw fail("TIMEOUT", `${what}: no answer within ${timeoutMs} ms`, 0, err);
        throw fail("NETWORK", `${what}: the server cannot be reached (${causeOf(err)})`, 0, err);
      }
      const text = await res.text().catch(() => "");
      let data: unknown;
      try {
        data = text ? JSON.parse(text) : undefined;
      } catch {
        data = undefined; // a proxy's HTML page: judged by its status below
      }
      if (!res.ok && !route.answersOn?.includes(res.status)) {
        const error = errorResponse.safeParse(data);
        if (error.success) throw fail(error.data.error.code, error.data.error.message, res.status);
        // A proxy in front of a node that is gone answers 502/503/504 without our error body.
        if (res.status >= 502 && res.status <= 504) throw fail("NETWORK", `${what}: the server cannot be reached (HTTP ${res.status})`, res.status);
        throw fail("BAD_RESPONSE", `${what}: HTTP ${res.status} without an error body`, res.status);
      }
      if (!route.response) return undefined as RestOutput<N>;
      const parsed = route.response.safeParse(data);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
        throw fail("BAD_RESPONSE", `${what}: the answer does not match the protocol (${where}${issue?.message ?? "invalid"})`, res.status);
      }
      return parsed.data as RestOutput<N>;
    },
  };
}

function queryString(input: unknown): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(input ?? {})) if (value !== undefined) query.set(key, String(value));
  return query.size ? `?${query}` : "";
}

function causeOf(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message;
}
