import { describe, expect, it } from "vitest";
import { Store } from "./store.ts";

describe("Store: the page state the screens subscribe to", () => {
  it("makes a new state on every change and tells each subscriber until it unsubscribes", () => {
    const store = new Store();
    const seen: string[] = [];
    const off = store.subscribe(() => seen.push(store.get().phase));
    const before = store.get();
    store.set({ phase: "joining" });
    expect(store.get()).not.toBe(before);
    expect(before.phase).toBe("home");
    store.notify("warn", "careful");
    expect(store.get().notice).toEqual({ tone: "warn", text: "careful" });
    store.dismissNotice();
    off();
    store.set({ phase: "waiting" });
    expect(seen).toEqual(["joining", "joining", "joining"]);
    expect(store.get()).toMatchObject({ phase: "waiting", notice: null });
  });

  it("changes media settings in place of the rest, and the call only while there is one", () => {
    const store = new Store();
    store.setMedia({ micMuted: true });
    expect(store.get().media).toMatchObject({ micMuted: true, cameraOff: false, chatOnly: false });
    store.setCall({ peerState: "connected" });
    expect(store.get().call).toBeNull();
    store.set({
      call: { sessionId: "s", peer: { id: "p", nickname: "P" }, sharedInterests: [], relayOnly: false, peerState: "new", route: null, peerCamera: true },
    });
    store.setCall({ peerState: "connected" });
    expect(store.get().call).toMatchObject({ sessionId: "s", peerState: "connected" });
  });
});
