import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AuthRevoked, MatchFound } from "../../protocol/index.ts";
import { unreachable } from "./connection.ts";
import { connectTo, startTestServer, until, type TestServer } from "./testing/server.ts";

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(() => server.close());

describe("Connection: sign-in, the socket and requests against a real Socket.IO server", () => {
  it("signs in, connects over WebSocket, and a request resolves to the server's ack", async () => {
    const { store, connection } = connectTo(server);
    await connection.login("ada");
    expect(store.get().me?.nickname).toBe("ada");
    expect(connection.token).toBe("token-1");
    const link: string[] = [];
    store.subscribe(() => link.push(store.get().link));
    await connection.connect();
    expect(store.get().link).toBe("online");
    expect(link).toContain("connecting");
    server.answers["lobby:join"] = () => ({ ok: true, waitingSince: "2026-01-01T00:00:00.000Z" });
    expect(await connection.request("lobby:join", { interests: ["chess"] })).toEqual({ ok: true, waitingSince: "2026-01-01T00:00:00.000Z" });
    expect(server.sent("lobby:join")).toEqual([{ interests: ["chess"] }]);
    // An event without payload goes with its ack only.
    expect(await connection.request("lobby:leave")).toEqual({ ok: true });
    expect(server.sent("lobby:leave")).toEqual([undefined]);
    connection.dispose();
  });

  it("signs in once for the same nickname, and again (new socket) for another one", async () => {
    const { store, connection } = connectTo(server);
    await Promise.all([connection.login("ada"), connection.login("ada")]);
    expect(connection.token).toBe("token-1");
    await connection.connect();
    const first = await server.socket();
    await connection.login("grace");
    expect(store.get().me?.nickname).toBe("grace");
    expect(connection.token).toBe("token-2");
    await until(() => first.disconnected, "the old socket to close");
    await connection.connect();
    expect((await server.socket()).handshake.auth).toEqual({ token: "token-2" });
    connection.dispose();
  });

  it("answers a request without a connection NETWORK at once, and one without an answer in time TIMEOUT", async () => {
    const { connection } = connectTo(server, { ackTimeoutMs: 200 });
    expect(await connection.request("lobby:leave")).toEqual({ ok: false, error: { code: "NETWORK", message: unreachable } });
    await connection.login("");
    await connection.connect();
    server.answers["lobby:leave"] = () => null;
    expect(await connection.request("lobby:leave")).toEqual({ ok: false, error: { code: "TIMEOUT", message: "The server did not answer in time." } });
    connection.dispose();
  });

  it("hands server events to every on() handler, also on the socket of a later sign-in", async () => {
    const { connection } = connectTo(server);
    const seen: string[] = [];
    connection.on("match:found", (m) => seen.push(m.sessionId));
    await connection.login("ada");
    await connection.connect();
    (await server.socket()).emit("match:found", match("s1"));
    await until(() => seen.length === 1, "the first match");
    await connection.login("grace");
    await connection.connect();
    (await server.socket()).emit("match:found", match("s2"));
    await until(() => seen.length === 2, "the second match");
    expect(seen).toEqual(["s1", "s2"]);
    connection.dispose();
  });

  it("signs in again by itself when the server refuses its token (restarted with a new secret)", async () => {
    const { store, connection } = connectTo(server);
    await connection.login("ada");
    server.forgetTokens();
    await connection.connect();
    expect(store.get().link).toBe("online");
    expect(store.get().me?.nickname).toBe("ada");
    expect(connection.token).toBe("token-2");
    connection.dispose();
  });

  it("says the link dropped, reconnects, and reports whether the server kept the session", async () => {
    const reconnected: boolean[] = [];
    const { store, connection } = connectTo(server, { onReconnected: (recovered) => reconnected.push(recovered) });
    await connection.login("ada");
    await connection.connect();
    // The server cuts the transport, as a network drop would.
    (await server.socket()).conn.close();
    await until(() => store.get().link === "reconnecting", "the link to show reconnecting");
    expect(store.get().notice).toEqual({ tone: "warn", text: "Lost the connection to the server. Reconnecting…" });
    await until(() => reconnected.length === 1, "the reconnect");
    expect(reconnected).toEqual([false]);
    expect(store.get().link).toBe("online");
    connection.dispose();
  });

  it("reports a recovered session when the server kept it", async () => {
    await server.close();
    server = await startTestServer({ recovery: true });
    const reconnected: boolean[] = [];
    const { connection } = connectTo(server, { onReconnected: (recovered) => reconnected.push(recovered) });
    let got = false;
    connection.on("chat:typing", () => (got = true));
    await connection.login("ada");
    await connection.connect();
    const socket = await server.socket();
    // Recovery resumes after the last event the client got: it needs one.
    socket.emit("chat:typing", { sessionId: "s", typing: false });
    await until(() => got, "the event");
    socket.conn.close();
    await until(() => reconnected.length === 1, "the reconnect");
    expect(reconnected).toEqual([true]);
    connection.dispose();
  });

  it("sends the user home when the server closes the socket, and forgets a revoked token", async () => {
    const sentHome: Array<AuthRevoked | undefined> = [];
    const { store, connection } = connectTo(server, { onSentHome: (r) => sentHome.push(r) });
    await connection.login("ada");
    await connection.connect();
    const socket = await server.socket();
    const revoked: AuthRevoked = { reason: "token-expired", message: "Your session expired." };
    socket.emit("auth:revoked", revoked);
    socket.disconnect(true);
    await until(() => sentHome.length === 2, "auth:revoked and the disconnect");
    expect(sentHome).toEqual([revoked, undefined]);
    expect(connection.token).toBeNull();
    expect(store.get().link).toBe("idle");
    connection.dispose();
  });

  it("shows a ban from the handshake and stops there", async () => {
    const { store, connection } = connectTo(server);
    await connection.login("ada");
    server.banned.add(connection.token!);
    await expect(connection.connect()).rejects.toThrow("You are banned.");
    expect(store.get()).toMatchObject({ phase: "home", link: "idle", notice: { tone: "error", text: "You are banned." } });
    connection.dispose();
  });

  it("shows the server's error event", async () => {
    const { store, connection } = connectTo(server);
    await connection.login("ada");
    await connection.connect();
    (await server.socket()).emit("error", { code: "RATE_LIMITED", message: "Too many events." });
    await until(() => store.get().notice !== null, "the notice");
    expect(store.get().notice).toEqual({ tone: "error", text: "Too many events." });
    connection.dispose();
  });
});

function match(sessionId: string): MatchFound {
  return { sessionId, role: "offerer", peer: { id: "p", nickname: "Peer" }, iceServers: [], iceTransportPolicy: "all", sharedInterests: [] };
}
