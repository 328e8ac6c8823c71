import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createClient } from "./client.ts";
import { startTestServer, until, type TestServer } from "./testing/server.ts";

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(() => server.close());

function client() {
  return createClient({ url: server.url, login: (nickname) => server.login(nickname) });
}

describe("createClient: the units wired together", () => {
  it("a waiting user whose connection dropped is back in the lobby after the reconnect", async () => {
    const c = client();
    await c.lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    (await server.socket()).conn.close();
    await until(() => server.sent("lobby:join").length === 2, "the join after the reconnect");
    expect(server.sent("lobby:join")).toEqual([{}, {}]);
    expect(c.store.get()).toMatchObject({
      phase: "waiting",
      link: "online",
      notice: { tone: "info", text: "Reconnected to the server. Still looking for someone…" },
    });
    c.dispose();
  });

  it("a user on the start screen is only told the connection is back", async () => {
    const c = client();
    await c.lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    await c.lobby.leave();
    (await server.socket()).conn.close();
    await until(() => c.store.get().notice?.text === "Reconnected to the server.", "the notice");
    expect(server.sent("lobby:join")).toHaveLength(1);
    c.dispose();
  });

  it("a revoked session sends the user home; a ban says why, an expiry says to press Start", async () => {
    const c = client();
    await c.lobby.start({ nickname: "ada", interests: [], relayOnly: false });
    (await server.socket()).emit("auth:revoked", { reason: "banned", message: "Banned for spam." });
    await until(() => c.store.get().phase === "home", "home");
    expect(c.store.get()).toMatchObject({ waitingSince: null, notice: { tone: "error", text: "Banned for spam." } });

    const d = client();
    await d.lobby.start({ nickname: "bob", interests: [], relayOnly: false });
    const socket = await server.socket();
    socket.emit("auth:revoked", { reason: "token-expired", message: "Expired." });
    socket.disconnect(true);
    await until(() => d.store.get().link === "idle", "the closed link");
    expect(d.store.get()).toMatchObject({ phase: "home", notice: { tone: "info", text: "Your session ended. Press Start to continue." } });
    c.dispose();
    d.dispose();
  });
});
