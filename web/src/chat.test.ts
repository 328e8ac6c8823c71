import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Chat } from "./chat.ts";
import type { CallState } from "./store.ts";
import { connectTo, startTestServer, until, type TestServer } from "./testing/server.ts";

const call: CallState = {
  sessionId: "s1",
  peer: { id: "peer", nickname: "Grace" },
  sharedInterests: [],
  relayOnly: true,
  peerState: "connected",
  route: null,
  peerCamera: true,
};

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  vi.useRealTimers();
  await server.close();
});

async function inCall() {
  const { store, connection } = connectTo(server);
  const chat = new Chat(store, connection);
  await connection.login("ada");
  await connection.connect();
  store.set({ phase: "call", call });
  return { store, connection, chat, socket: await server.socket() };
}

describe("Chat: messages and typing indicators of the current call", () => {
  it("adds a sent message once, from the ack, even when the server echoes it", async () => {
    const { store, connection, chat, socket } = await inCall();
    server.answers["chat:send"] = () => ({ ok: true, id: "m1", at: "2026-01-01T00:00:00.000Z" });
    expect(await chat.send("  hello  ")).toBe(true);
    expect(server.sent("chat:send")).toEqual([{ sessionId: "s1", text: "hello" }]);
    socket.emit("chat:message", { sessionId: "s1", id: "m1", from: store.get().me!.id, text: "hello", at: "2026-01-01T00:00:00.000Z" });
    socket.emit("chat:message", { sessionId: "s1", id: "m2", from: "peer", text: "hi!", at: "2026-01-01T00:00:01.000Z" });
    await until(() => store.get().lines.length === 2, "the peer's message");
    expect(store.get().lines).toEqual([
      { id: "m1", mine: true, text: "hello", at: "2026-01-01T00:00:00.000Z" },
      { id: "m2", mine: false, text: "hi!", at: "2026-01-01T00:00:01.000Z" },
    ]);
    connection.dispose();
  });

  it("keeps the text (false) and says why when a message is refused, here or by the server", async () => {
    const { store, connection, chat } = await inCall();
    expect(await chat.send("bell\u0007")).toBe(false);
    expect(store.get().notice?.text).toMatch(/^Message not sent: it must not contain control characters/);
    expect(server.sent("chat:send")).toEqual([]);
    server.answers["chat:send"] = () => ({ ok: false, error: { code: "RATE_LIMITED", message: "Slow down." } });
    expect(await chat.send("hello")).toBe(false);
    expect(store.get().notice).toEqual({ tone: "error", text: "Message not sent: Slow down." });
    expect(store.get().lines).toEqual([]);
    expect(await chat.send("   ")).toBe(false);
    connection.dispose();
  });

  it("ignores messages and typing of another session", async () => {
    const { store, connection, socket } = await inCall();
    socket.emit("chat:message", { sessionId: "old", id: "x", from: "peer", text: "late", at: "2026-01-01T00:00:00.000Z" });
    socket.emit("chat:typing", { sessionId: "old", typing: true });
    socket.emit("chat:message", { sessionId: "s1", id: "y", from: "peer", text: "now", at: "2026-01-01T00:00:00.000Z" });
    await until(() => store.get().lines.length > 0, "a message");
    expect(store.get().lines.map((l) => l.text)).toEqual(["now"]);
    expect(store.get().peerTyping).toBe(false);
    connection.dispose();
  });

  it("sends typing once per burst of keystrokes and off after 3 s idle", async () => {
    const { connection, chat } = await inCall();
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    chat.typing();
    chat.typing();
    vi.advanceTimersByTime(2999);
    chat.typing();
    vi.advanceTimersByTime(2000);
    // A round trip after the emits: whatever they sent has arrived (Socket.IO keeps the order).
    await connection.request("lobby:leave");
    expect(server.sent("chat:typing")).toEqual([{ sessionId: "s1", typing: true }]);
    vi.advanceTimersByTime(1000);
    vi.useRealTimers();
    await until(() => server.sent("chat:typing").length === 2, "typing off");
    expect(server.sent("chat:typing")).toEqual([
      { sessionId: "s1", typing: true },
      { sessionId: "s1", typing: false },
    ]);
    connection.dispose();
  });

  it("turns typing off when the message goes", async () => {
    const { connection, chat } = await inCall();
    chat.typing();
    await chat.send("hello");
    expect(server.received.map((r) => r.event)).toEqual(["chat:typing", "chat:typing", "chat:send"]);
    expect(server.sent("chat:typing")).toEqual([
      { sessionId: "s1", typing: true },
      { sessionId: "s1", typing: false },
    ]);
    connection.dispose();
  });

  it("shows the peer typing until their message, or for 6 s when their 'off' is lost", async () => {
    const { store, connection, socket } = await inCall();
    socket.emit("chat:typing", { sessionId: "s1", typing: true });
    await until(() => store.get().peerTyping, "the peer typing");
    socket.emit("chat:message", { sessionId: "s1", id: "m", from: "peer", text: "hey", at: "2026-01-01T00:00:00.000Z" });
    await until(() => !store.get().peerTyping, "the message to end typing");

    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    // Chat listened first, so it has handled the event when this one resolves (no timer involved).
    const handled = new Promise<unknown>((resolve) => connection.on("chat:typing", resolve));
    socket.emit("chat:typing", { sessionId: "s1", typing: true });
    await handled;
    expect(store.get().peerTyping).toBe(true);
    vi.advanceTimersByTime(5999);
    expect(store.get().peerTyping).toBe(true);
    vi.advanceTimersByTime(1);
    expect(store.get().peerTyping).toBe(false);
    connection.dispose();
  });
});
