/**
 * Checks of the vchat API a deployment serves: liveness and readiness, a guest login, the
 * Socket.IO connection with its JWT, and the ICE configuration with its TURN credentials.
 */
import { io } from "socket.io-client";
import { restClient, RestError, type IceResponse, type ReadyResponse } from "../protocol/index.ts";
import type { CheckResult } from "./report.ts";

type Outcome = Pick<CheckResult, "status" | "verdict" | "details">;

/** The service's REST routes at the origin of `base`, each call bounded by `timeoutMs`. */
const api = (base: string, timeoutMs: number, token?: string) => restClient({ baseUrl: new URL(base).origin, token, timeoutMs });

/** Why a call got no usable answer, in words for the operator. */
function networkWords(err: unknown): string {
  if (err instanceof RestError) {
    if (err.code === "TIMEOUT") return "no answer in time";
    if (err.code === "NETWORK" && err.status === 0) return networkWords(err.cause);
    return err.message;
  }
  const e = err as Error & { cause?: { code?: string; message?: string } };
  const code = e.cause?.code;
  if (code === "ECONNREFUSED") return "connection refused (nothing listens there)";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "the host name does not resolve";
  if (code?.startsWith("ERR_TLS") || code?.includes("CERT")) return `TLS problem (${code})`;
  return e.cause?.message ?? e.message;
}

/** The HTTP status of a failed call, when the server (or a proxy) answered at all. */
const answered = (err: unknown): number => (err instanceof RestError ? err.status : 0);

/** A success status with a body the protocol does not allow: a proxy's or a bucket's page, another service. */
const notOurs = (err: unknown): boolean => err instanceof RestError && err.code === "BAD_RESPONSE" && err.status < 300;

/** `/healthz` then `/readyz` (RFC-less but conventional: 200 live, 200 ready / 503 with named checks). */
export async function checkHealth(base: string, timeoutMs: number): Promise<Outcome> {
  try {
    await api(base, timeoutMs).call("health", undefined);
  } catch (err) {
    const status = answered(err);
    if (!status) return { status: "fail", verdict: `the API does not answer: ${networkWords(err)}`, details: { url: base } };
    const what = notOurs(err) ? "something that is not a vchat health check" : `HTTP ${status}`;
    return { status: "fail", verdict: `/healthz answered ${what}: the server is not running properly`, details: { healthz: status } };
  }
  let ready: ReadyResponse;
  try {
    ready = await api(base, timeoutMs).call("ready", undefined);
  } catch (err) {
    const status = answered(err);
    if (!status) return { status: "fail", verdict: `/readyz does not answer: ${networkWords(err)}`, details: { healthz: 200 } };
    // The public origin sends /readyz to the bucket (protocol/routes.ts): only a node answers it.
    if (notOurs(err))
      return { status: "pass", verdict: "the API is up (/readyz is not served at this URL, as at a public origin)", details: { healthz: 200, readyz: status } };
    return { status: "fail", verdict: `the server is up but not ready (HTTP ${status})`, details: { healthz: 200, readyz: status } };
  }
  if (!ready.ready) {
    const down = Object.entries(ready.checks)
      .filter(([, c]) => !c.ok)
      .map(([n]) => n);
    return {
      status: "fail",
      verdict: `the server is up but not ready${down.length ? `: ${down.join(", ")} unreachable` : " (HTTP 503)"}`,
      details: { healthz: 200, readyz: 503, checks: ready.checks },
    };
  }
  return {
    status: "pass",
    verdict: "the API is up and its dependencies are reachable",
    details: { healthz: 200, readyz: 200, checks: ready.checks },
  };
}

/** A guest login: the token the socket and `/api/ice` need. */
export async function guestToken(base: string, timeoutMs: number): Promise<{ token?: string; error?: string }> {
  try {
    return { token: (await api(base, timeoutMs).call("guest", { nickname: "doctor" })).token };
  } catch (err) {
    const status = answered(err);
    return { error: status && !notOurs(err) ? `guest login answered HTTP ${status}` : `guest login failed: ${networkWords(err)}` };
  }
}

/** Opens a Socket.IO connection over WebSocket only, with the JWT, as the web client does. */
export async function checkSocket(base: string, token: string | undefined, timeoutMs: number): Promise<Outcome> {
  if (!token) return { status: "fail", verdict: "could not log in as a guest, so the socket cannot authenticate" };
  const connect = (auth: Record<string, string>) =>
    new Promise<{ ok: boolean; error?: string; ms: number; transport?: string }>((resolve) => {
      const start = performance.now();
      const socket = io(base, { auth, transports: ["websocket"], reconnection: false, timeout: timeoutMs, forceNew: true });
      const done = (r: { ok: boolean; error?: string }) => {
        clearTimeout(timer);
        const transport = socket.io.engine?.transport?.name;
        socket.close();
        resolve({ ...r, ms: performance.now() - start, transport });
      };
      const timer = setTimeout(() => done({ ok: false, error: `no connection within ${timeoutMs} ms` }), timeoutMs);
      socket.once("connect", () => done({ ok: true }));
      socket.once("connect_error", (err) => done({ ok: false, error: err.message }));
    });
  const good = await connect({ token });
  if (!good.ok) {
    const ws = /websocket|xhr poll|timeout|no connection/i.test(good.error ?? "");
    return {
      status: "fail",
      verdict: ws
        ? `the WebSocket does not connect (${good.error}): a proxy or load balancer may not pass WebSocket upgrades`
        : `the WebSocket connects but the server refused our token: ${good.error}`,
      details: { error: good.error },
    };
  }
  // The other half of auth: a socket without a valid token must be refused.
  const bad = await connect({ token: "not-a-token" });
  if (bad.ok) return { status: "fail", verdict: "the socket accepts connections without a valid token", details: { connectMs: round(good.ms) } };
  return {
    status: "pass",
    verdict: `WebSocket connects in ${round(good.ms)} ms with a token and refuses one without`,
    details: { connectMs: round(good.ms), transport: good.transport, refusedWithoutToken: bad.error },
  };
}

/** `/api/ice`: shape, TURN present, and how long its credentials live. */
export async function checkIce(base: string, token: string | undefined, timeoutMs: number, nowMs = Date.now()): Promise<Outcome & { ice?: IceResponse }> {
  if (!token) return { status: "fail", verdict: "could not log in as a guest, so /api/ice cannot be read" };
  let ice: IceResponse;
  try {
    ice = await api(base, timeoutMs, token).call("ice", undefined);
  } catch (err) {
    const status = answered(err);
    if (!status) return { status: "fail", verdict: `/api/ice does not answer: ${networkWords(err)}` };
    if (notOurs(err))
      return { status: "fail", verdict: "/api/ice answered something that is not an ICE configuration", details: { problem: (err as RestError).message } };
    return { status: "fail", verdict: `/api/ice answered HTTP ${status}`, details: { status } };
  }
  const urls = ice.iceServers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]));
  const turn = ice.iceServers.filter((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).some((u) => /^turns?:/i.test(u)));
  const details: Record<string, unknown> = { urls, ttlSeconds: ice.ttlSeconds };
  if (turn.length === 0) return { status: "fail", ice, verdict: "no TURN server is configured: calls between strict NATs or firewalls will fail", details };
  const missing = turn.find((s) => !s.username || !s.credential);
  if (missing) return { status: "fail", ice, verdict: "a TURN server is listed without credentials", details };
  // TURN REST user names start with their expiry (unix seconds).
  const expiry = Number(/^(\d+):/.exec(turn[0]!.username!)?.[1]);
  const left = Number.isFinite(expiry) ? expiry - Math.floor(nowMs / 1000) : undefined;
  details.credentialExpiresInSeconds = left;
  if (left !== undefined && left <= 0)
    return { status: "fail", ice, verdict: "the TURN credentials are already expired: the server clock or the TTL is wrong", details };
  const life = left ?? ice.ttlSeconds;
  if (life < 600)
    return { status: "warn", ice, verdict: `TURN credentials live only ${life} s: calls that need TURN cannot refresh their allocation after that`, details };
  return { status: "pass", ice, verdict: `${urls.length} URL(s), TURN credentials valid for ${formatSeconds(life)}`, details };
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

export function formatSeconds(s: number): string {
  if (s >= 86400) return `${Math.round(s / 3600)} h`;
  if (s >= 3600) return `${Math.round((s / 3600) * 10) / 10} h`;
  if (s >= 60) return `${Math.round(s / 60)} min`;
  return `${s} s`;
}
