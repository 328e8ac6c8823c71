import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { paths } from "../../protocol/index.ts";
import { ApiError } from "./api.ts";
import { unreachable, websocketBlocked } from "./connection.ts";
import { Lobby } from "./lobby.ts";
import { connectTo, startTestServer, until, type TestServer } from "./testing/server.ts";

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(() => server.close());

function lobbyOn(s: TestServer, login?: (nickname: string | undefined) => Promise<never>) {
  const { store, connection } = connectTo(s, { ackTimeoutMs: 300, ...(login ? { login } : {}) });
  return { store, connection, lobby: new Lobby(store, connection) };
}

describe("Lobby: Start and Stop before a call", () => {
  it("signs in, connects and waits, with interests cleaned up and the wait dated by the server", async () => {
    const { store, lobby, connection } = lobbyOn(server);
    const serverTime = new Date(Date.now() - 5000).toISOString();
    server.answers["lobby:join"] = () => ({ ok: true, waitingSince: serverTime });
    await lobby.start({ nickname: "  Ada ", interests: [" Chess", "", "MUSIC "], relayOnly: true });
    expect(store.get()).toMatchObject({ phase: "waiting", link: "online", notice: null, waitingSince: Date.parse(serverTime) });
    expect(store.get().me?.nickname).toBe("Ada");
    expect(server.sent("lobby:join")).toEqual([{ interests: ["chess", "music"], relayOnly: true }]);
    expect(lobby.lastStart).toEqual({ nickname: "Ada", interests: ["chess", "music"], relayOnly: true });
    connection.dispose();
  });

  it("never shows a wait that starts in the future (server clock ahead)", async () => {
    const { store, lobby, connection } = lobbyOn(server);
    server.answers["lobby:join"] = () => ({ ok: true, waitingSince: new Date(Date.now() + 60_000).toISOString() });
    const before = Date.now();
    await lobby.start({ nickname: "", interests: [], relayOnly: false });
    expect(store.get().waitingSince).toBeGreaterThanOrEqual(before);
    expect(store.get().waitingSince).toBeLessThanOrEqual(Date.now());
    expect(server.sent("lobby:join")).toEqual([{}]);
    connection.dispose();
  });

  it("refuses a nickname or interest the protocol refuses, before anything is sent", async () => {
    const { store, lobby } = lobbyOn(server);
    await lobby.start({ nickname: "a\u202Eb", interests: [], relayOnly: false });
    expect(store.get().phase).toBe("home");
    expect(store.get().notice?.text).toMatch(/^That nickname /);
    await lobby.start({ nickname: "ada", interests: ["ok", "bad\u0007"], relayOnly: false });
    expect(store.get().notice?.text.startsWith('The interest "bad\u0007" ')).toBe(true);
    expect(store.get().me).toBeNull();
    expect(server.received).toEqual([]);
  });

  it("shows the server's refusal once, without asking again (no retry on ALREADY_IN_CALL)", async () => {
    const { store, lobby, connection } = lobbyOn(server);
    server.answers["lobby:join"] = () => ({ ok: false, error: { code: "ALREADY_IN_CALL", message: "You are already in a call." } });
    await lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    expect(store.get()).toMatchObject({ phase: "home", waitingSince: null, notice: { tone: "error", text: "You are already in a call." } });
    expect(server.sent("lobby:join")).toHaveLength(1);
    connection.dispose();
  });

  it("says the server is unreachable when the sign-in or the join gets no answer", async () => {
    const down = lobbyOn(server, () => Promise.reject(new ApiError("NETWORK", "The server cannot be reached.", { status: 0, path: paths.guest })));
    await down.lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    expect(down.store.get()).toMatchObject({ phase: "home", notice: { tone: "error", text: unreachable } });

    const slow = lobbyOn(server, () =>
      Promise.reject(new ApiError("TIMEOUT", "POST /api/auth/guest: no answer within 10000 ms", { status: 0, path: paths.guest })),
    );
    await slow.lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    expect(slow.store.get()).toMatchObject({ phase: "home", notice: { tone: "error", text: unreachable } });

    const limited = lobbyOn(server, () => Promise.reject(new ApiError("RATE_LIMITED", "Too many sign-ups from here.", { status: 429, path: paths.guest })));
    await limited.lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    expect(limited.store.get()).toMatchObject({ phase: "home", notice: { tone: "error", text: "Too many sign-ups from here." } });

    const { store, lobby, connection } = lobbyOn(server);
    server.answers["lobby:join"] = () => ({ ok: false, error: { code: "UNAVAILABLE", message: "internal words" } });
    await lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    expect(store.get()).toMatchObject({ phase: "home", notice: { tone: "error", text: unreachable } });
    store.dismissNotice();
    server.answers["lobby:join"] = () => null;
    await lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    expect(store.get()).toMatchObject({ phase: "home", notice: { tone: "error", text: unreachable } });
    connection.dispose();
  });

  it("says WebSockets are blocked when the sign-in got through but the WebSocket does not", async () => {
    const { store, lobby, connection } = lobbyOn(server);
    await server.close();
    await lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    expect(store.get()).toMatchObject({ phase: "home", notice: { tone: "error", text: websocketBlocked } });
    connection.dispose();
  });

  it("Stop leaves the lobby; Stop during sign-in means no join at all", async () => {
    const { store, lobby, connection } = lobbyOn(server);
    await lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    await lobby.leave();
    expect(store.get()).toMatchObject({ phase: "home", waitingSince: null });
    expect(server.sent("lobby:leave")).toHaveLength(1);

    const starting = lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    expect(store.get().phase).toBe("joining");
    await lobby.leave();
    await starting;
    expect(store.get().phase).toBe("home");
    expect(server.sent("lobby:join")).toHaveLength(1);
    connection.dispose();
  });

  it("goes home when another tab of the same user takes its place", async () => {
    const { store, lobby, connection } = lobbyOn(server);
    await lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    (await server.socket()).emit("lobby:left", { reason: "replaced" });
    await until(() => store.get().phase === "home", "the lobby to let go");
    expect(store.get().notice).toEqual({ tone: "warn", text: "You started looking for someone in another tab or window, so this one stopped." });
    connection.dispose();
  });
});
