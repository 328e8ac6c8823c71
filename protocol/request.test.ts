import type { AddressInfo } from "node:net";
import { Server } from "socket.io";
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from "vitest";
import type { Ack, AckFn } from "./errors.ts";
import type { ClientToServerEvents, JoinAck, ServerToClientEvents } from "./events.ts";
import { request, send, type ClientSocket, type Reply } from "./request.ts";

/** What the server saw of each event: its arguments, the ack replaced by "ack". */
const seen: { event: string; args: unknown[] }[] = [];
let server: Server<ClientToServerEvents, ServerToClientEvents>;
let socket: ClientSocket;
let url: string;

beforeAll(async () => {
  server = new Server<ClientToServerEvents, ServerToClientEvents>();
  server.on("connection", (s) => {
    s.onAny((event: string, ...args: unknown[]) => seen.push({ event, args: args.map((a) => (typeof a === "function" ? "ack" : a)) }));
    s.on("lobby:join", (_payload, ack) => ack({ ok: true, waitingSince: "2026-01-01T00:00:00.000Z" }));
    s.on("lobby:leave", (ack) => ack({ ok: true }));
    s.on("chat:send", (_payload, ack) => ack({ ok: false, error: { code: "NOT_IN_SESSION", message: "not in this call" } }));
    // call:end is never answered: the client's wait runs out.
  });
  const port = await new Promise<number>((resolve) => {
    server.listen(0);
    const http = server.httpServer;
    http.once("listening", () => resolve((http.address() as AddressInfo).port));
  });
  url = `http://127.0.0.1:${port}`;
  socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
});

afterAll(async () => {
  socket?.close();
  await server?.close();
});

describe("request()", () => {
  it("resolves to the server's ok ack, having sent exactly the payload and an ack", async () => {
    const ack = await request(socket, "lobby:join", { interests: ["music"] });
    expect(ack).toEqual({ ok: true, waitingSince: "2026-01-01T00:00:00.000Z" });
    expect(seen.at(-1)).toEqual({ event: "lobby:join", args: [{ interests: ["music"] }, "ack"] });
  });

  it("sends no payload for an event that takes none", async () => {
    expect(await request(socket, "lobby:leave")).toEqual({ ok: true });
    expect(seen.at(-1)).toEqual({ event: "lobby:leave", args: ["ack"] });
  });

  it("resolves to the server's error ack as it came", async () => {
    const ack = await request(socket, "chat:send", { sessionId: "s1", text: "hi" });
    expect(ack).toEqual({ ok: false, error: { code: "NOT_IN_SESSION", message: "not in this call" } });
  });

  it("resolves to a TIMEOUT result naming the event when no ack comes in time", async () => {
    const started = performance.now();
    const ack = await request(socket, "call:end", { sessionId: "s1" }, { timeoutMs: 150 });
    expect(ack).toEqual({ ok: false, error: { code: "TIMEOUT", message: "no answer to call:end within 150 ms" } });
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("resolves to TIMEOUT at once when the connection closes before the ack", async () => {
    const other: ClientSocket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
    await new Promise((resolve) => other.once("connect", () => resolve(undefined)));
    const started = performance.now();
    const pending = request(other, "call:end", { sessionId: "s1" }, { timeoutMs: 10_000 });
    other.disconnect();
    expect(await pending).toEqual({ ok: false, error: { code: "TIMEOUT", message: "no answer to call:end before the connection closed" } });
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("send() emits the payload without an ack", async () => {
    send(socket, "chat:typing", { sessionId: "s1", typing: true });
    await expect.poll(() => seen.filter((e) => e.event === "chat:typing")).toEqual([{ event: "chat:typing", args: [{ sessionId: "s1", typing: true }] }]);
  });
});

// Checked by the typecheck (`tsc --noEmit`); never run: it would emit on a closed socket.
function typeChecks(s: ClientSocket) {
  expectTypeOf(request(s, "lobby:join", {})).resolves.toEqualTypeOf<Reply<"lobby:join">>();
  expectTypeOf<Reply<"lobby:join">>().toEqualTypeOf<Ack<JoinAck> | { ok: false; error: { code: "TIMEOUT"; message: string } }>();
  void request(s, "lobby:join", {}).then((ack) => {
    if (ack.ok) expectTypeOf(ack.waitingSince).toBeString();
    else expectTypeOf(ack.error.code).toExtend<string>();
  });
  void request(s, "lobby:leave", undefined, { timeoutMs: 1000 });
  // @ts-expect-error an event that takes no payload
  void request(s, "lobby:leave", {});
  // @ts-expect-error a payload is required where the event has one
  void request(s, "call:end");
  // @ts-expect-error an unknown event
  void request(s, "lobby:dance", {});
  // @ts-expect-error a payload of the wrong shape
  void request(s, "chat:send", { sessionId: "s1" });
  const plain: string = "lobby:join";
  // @ts-expect-error an event name as a plain string
  void request(s, plain, {});
  // @ts-expect-error an event the server sends, not a client's
  void request(s, "match:found", {});
  // @ts-expect-error send() checks payloads too
  send(s, "signal", { sessionId: 1 });
  // Socket.IO's own types now follow the acks, with no cast.
  expectTypeOf(s.emitWithAck("call:next", { sessionId: "s1" })).resolves.toEqualTypeOf<Ack<JoinAck>>();
  expectTypeOf<Parameters<ClientToServerEvents["lobby:leave"]>>().toEqualTypeOf<[ack: AckFn]>();
}
void typeChecks;
