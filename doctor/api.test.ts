import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkHealth, checkIce, guestToken } from "./api.ts";

/** A web server that is not vchat: answers by path, 200 with an HTML page otherwise. */
let answers: Record<string, (res: ServerResponse) => void> = {};
let server: Server;
let base: string;
const page = (res: ServerResponse) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><div id=root></div>");
const json = (status: number, body: unknown) => (res: ServerResponse) =>
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

beforeAll(async () => {
  server = createServer((req, res) => (answers[req.url ?? ""] ?? page)(res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(() => new Promise((resolve) => server.close(resolve)));

describe("doctor's API checks against answers that are not vchat's", () => {
  it("a /healthz that answers 200 with a web page fails, saying it is not a health check", async () => {
    answers = {};
    const out = await checkHealth(base, 2000);
    expect(out).toMatchObject({ status: "fail", details: { healthz: 200 } });
    expect(out.verdict).toBe("/healthz answered something that is not a vchat health check: the server is not running properly");
  });

  it("a live server whose /readyz is the bucket's page (a public origin) passes, saying readiness was not seen", async () => {
    answers = { "/healthz": json(200, { ok: true }) };
    expect(await checkHealth(base, 2000)).toMatchObject({
      status: "pass",
      verdict: "the API is up (/readyz is not served at this URL, as at a public origin)",
    });
  });

  it("/readyz's 503 names the dependencies that are down", async () => {
    answers = { "/healthz": json(200, { ok: true }), "/readyz": json(503, { ready: false, checks: { redis: { ok: false }, store: { ok: true } } }) };
    expect(await checkHealth(base, 2000)).toMatchObject({
      status: "fail",
      verdict: "the server is up but not ready: redis unreachable",
      details: { readyz: 503 },
    });
  });

  it("a guest login or /api/ice that answers a web page is reported as such, not as a refusal", async () => {
    answers = {};
    expect((await guestToken(base, 2000)).error).toMatch(/^guest login failed: POST \/api\/auth\/guest: the answer does not match the protocol/);
    expect(await checkIce(base, "token", 2000)).toMatchObject({ status: "fail", verdict: "/api/ice answered something that is not an ICE configuration" });
    answers = { "/api/auth/guest": json(429, { error: { code: "RATE_LIMITED", message: "slow down" } }) };
    expect(await guestToken(base, 2000)).toEqual({ error: "guest login answered HTTP 429" });
  });
});
