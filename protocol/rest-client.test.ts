import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import { restClient, RestError, type RestOutput } from "./rest-client.ts";
import type { AuthResponse } from "./rest.ts";

/** The answer the next request gets, and the last request as the server saw it. */
let answer: (res: ServerResponse) => void = (res) => res.end();
let last: { method?: string; url?: string; auth?: string; body: string } | undefined;
let server: Server;
let baseUrl: string;

const json = (status: number, body: unknown) => (res: ServerResponse) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
const user = { id: "u1", nickname: "Ann", kind: "guest", createdAt: "2026-01-01T00:00:00.000Z" };

beforeAll(async () => {
  server = createServer((req: IncomingMessage, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      last = { method: req.method, url: req.url, auth: req.headers.authorization, body };
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

/** The error a call rejects with. */
async function failure(call: Promise<unknown>): Promise<RestError> {
  const err = await call.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RestError);
  return err as RestError;
}

describe("restClient", () => {
  it("posts the body with the token and resolves to the checked answer", async () => {
    answer = json(201, { token: "t", user, extra: "dropped" });
    const auth = await restClient({ baseUrl, token: "jwt" }).call("guest", { nickname: "Ann" });
    expect(auth).toEqual({ token: "t", user });
    expect(last).toEqual({ method: "POST", url: "/api/auth/guest", auth: "Bearer jwt", body: '{"nickname":"Ann"}' });
  });

  it("sends a GET route's input as its query string", async () => {
    answer = json(200, { reports: [] });
    await restClient({ baseUrl }).call("adminReports", { since: "2026-01-01T00:00:00.000Z", limit: 5 });
    expect(last?.method).toBe("GET");
    expect(last?.url).toBe("/api/admin/reports?since=2026-01-01T00%3A00%3A00.000Z&limit=5");
  });

  it("an answer that does not match the schema is BAD_RESPONSE naming the route and the field", async () => {
    answer = json(201, { token: 42, user });
    const err = await failure(restClient({ baseUrl }).call("guest", {}));
    expect(err.code).toBe("BAD_RESPONSE");
    expect(err.path).toBe("/api/auth/guest");
    expect(err.status).toBe(201);
    expect(err.message).toMatch(/^POST \/api\/auth\/guest: the answer does not match the protocol \(token: /);
  });

  it("an answer that is not JSON is BAD_RESPONSE", async () => {
    answer = (res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>login portal</html>");
    const err = await failure(restClient({ baseUrl, token: "t" }).call("ice", undefined));
    expect([err.code, err.path]).toEqual(["BAD_RESPONSE", "/api/ice"]);
  });

  it("an HTTP error with the protocol's error body carries the server's code, message and status", async () => {
    answer = json(429, { error: { code: "RATE_LIMITED", message: "too many sign-ups; try again later" } });
    const err = await failure(restClient({ baseUrl }).call("guest", {}));
    expect([err.code, err.message, err.status]).toEqual(["RATE_LIMITED", "too many sign-ups; try again later", 429]);
  });

  it("a proxy's 502 without an error body is NETWORK; another bare error status is BAD_RESPONSE", async () => {
    answer = (res) => res.writeHead(502).end("<html>Bad Gateway</html>");
    expect((await failure(restClient({ baseUrl }).call("me", undefined))).code).toBe("NETWORK");
    answer = (res) => res.writeHead(500).end("oops");
    const err = await failure(restClient({ baseUrl }).call("me", undefined));
    expect([err.code, err.status, err.message]).toEqual(["BAD_RESPONSE", 500, "GET /api/me: HTTP 500 without an error body"]);
  });

  it("/readyz's 503 is an answer (the checks), not an error", async () => {
    answer = json(503, { ready: false, checks: { redis: { ok: false, detail: "ECONNREFUSED" } } });
    expect(await restClient({ baseUrl }).call("ready", undefined)).toEqual({ ready: false, checks: { redis: { ok: false, detail: "ECONNREFUSED" } } });
  });

  it("a route without a body (204) resolves to nothing", async () => {
    answer = (res) => res.writeHead(204).end();
    await expect(restClient({ baseUrl, token: "t" }).call("block", { userId: "u2" })).resolves.toBeUndefined();
  });

  it("no answer in time is TIMEOUT; nothing listening is NETWORK", async () => {
    answer = () => {}; // never answers
    const slow = await failure(restClient({ baseUrl, timeoutMs: 150 }).call("health", undefined));
    expect([slow.code, slow.status, slow.message]).toEqual(["TIMEOUT", 0, "GET /healthz: no answer within 150 ms"]);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const gone = await failure(restClient({ baseUrl: `http://127.0.0.1:${port}` }).call("health", undefined));
    expect([gone.code, gone.status]).toEqual(["NETWORK", 0]);
    expect(gone.message).toMatch(/ECONNREFUSED/);
  });
});

// Checked by the typecheck; never run.
function typeChecks() {
  const api = restClient({ baseUrl: "" });
  expectTypeOf(api.call("guest", {})).resolves.toEqualTypeOf<AuthResponse>();
  expectTypeOf<RestOutput<"block">>().toBeVoid();
  // @ts-expect-error an unknown route
  void api.call("nope", {});
  // @ts-expect-error a body of the wrong shape
  void api.call("report", { sessionId: "s1", reason: "boring" });
  // @ts-expect-error a route that takes a body needs one
  void api.call("login", undefined);
}
void typeChecks;
