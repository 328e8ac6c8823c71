import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { paths } from "../../protocol/index.ts";
import { ApiError, type blockUser, type sendReport } from "./api.ts";
import { unreachable } from "./connection.ts";
import { Moderation } from "./moderation.ts";
import { connectTo, startTestServer, type TestServer } from "./testing/server.ts";

let server: TestServer;
beforeEach(async () => {
  server = await startTestServer();
});
afterEach(() => server.close());

/**
 * Report and Block go over REST, which these tests answer in place of the server (`api.ts` itself
 * is covered by the browser tests); the connection is a real one, signed in.
 */
async function inCall(answer: (path: "report" | "block") => Promise<void>) {
  const { store, connection } = connectTo(server);
  await connection.login("ada");
  store.set({
    phase: "call",
    call: {
      sessionId: "s1",
      peer: { id: "peer", nickname: "Grace" },
      sharedInterests: [],
      relayOnly: false,
      peerState: "connected",
      route: null,
      peerCamera: true,
    },
  });
  const calls: unknown[][] = [];
  let nexts = 0;
  const api = {
    sendReport: (async (...args) => (calls.push(["report", ...args]), await answer("report"), { id: "r1" })) as typeof sendReport,
    blockUser: (async (...args) => (calls.push(["block", ...args]), await answer("block"))) as typeof blockUser,
  };
  const moderation = new Moderation({ store, connection, api, call: { next: async () => void nexts++ } });
  return { store, moderation, calls, nexts: () => nexts };
}

describe("Moderation: Report and Block on the current call", () => {
  it("reports the peer with the signed-in token; the call goes on", async () => {
    const { store, moderation, calls } = await inCall(async () => undefined);
    expect(await moderation.report("harassment", "  rude  ")).toBe(true);
    expect(calls).toEqual([["report", "token-1", "s1", "harassment", "rude"]]);
    expect(store.get()).toMatchObject({ phase: "call", notice: { tone: "info", text: "Thank you. Your report was sent to the moderators." } });
    expect(await moderation.report("spam", " ")).toBe(true);
    expect(calls[1]).toEqual(["report", "token-1", "s1", "spam", undefined]);
  });

  it("says why a report was not sent, or that the server is unreachable", async () => {
    const refused = await inCall(() => Promise.reject(new ApiError("RATE_LIMITED", "Too many reports.", { status: 429, path: paths.reports })));
    expect(await refused.moderation.report("spam", "")).toBe(false);
    expect(refused.store.get().notice).toEqual({ tone: "error", text: "Report not sent: Too many reports." });
    const down = await inCall(() => Promise.reject(new ApiError("NETWORK", "The server cannot be reached.", { status: 0, path: paths.reports })));
    expect(await down.moderation.report("spam", "")).toBe(false);
    expect(down.store.get().notice).toEqual({ tone: "error", text: unreachable });
    // An answer the protocol does not allow says nothing a user could act on.
    const odd = await inCall(() =>
      Promise.reject(new ApiError("BAD_RESPONSE", "POST /api/reports: the answer does not match", { status: 200, path: paths.reports })),
    );
    expect(await odd.moderation.report("spam", "")).toBe(false);
    expect(odd.store.get().notice).toEqual({ tone: "error", text: unreachable });
  });

  it("blocks the peer, then moves on to someone new", async () => {
    const { store, moderation, calls, nexts } = await inCall(async () => undefined);
    await moderation.block();
    expect(calls).toEqual([["block", "token-1", "peer"]]);
    expect(nexts()).toBe(1);
    expect(store.get().notice).toEqual({ tone: "info", text: "You blocked Grace; you won't be matched again. Looking for someone new…" });
  });

  it("stays in the call when the block fails", async () => {
    const { store, moderation, nexts } = await inCall(() => Promise.reject(new ApiError("NOT_FOUND", "No such user.", { status: 404, path: paths.blocks })));
    await moderation.block();
    expect(nexts()).toBe(0);
    expect(store.get().notice).toEqual({ tone: "error", text: "Block failed: No such user." });
  });

  it("does nothing outside a call", async () => {
    const { store, moderation, calls } = await inCall(async () => undefined);
    store.set({ phase: "home", call: null });
    expect(await moderation.report("spam", "")).toBe(false);
    await moderation.block();
    expect(calls).toEqual([]);
  });
});
