import { describe, expect, it } from "vitest";
import { VchatError } from "../../protocol/index.ts";
import { createLogger } from "../log.ts";
import { openSqliteStore } from "../store/sqlite-store.ts";
import type { Store } from "../store/store.ts";
import { createStanding } from "./standing.ts";

const logger = createLogger("silent");
const at = (ms: number) => new Date(ms).toISOString();

async function setUp() {
  const store = await openSqliteStore(":memory:");
  await store.createUser({ id: "u1", nickname: "u", kind: "guest", createdAt: at(0) });
  let clock = Date.parse("2026-06-01T00:00:00.000Z");
  let reads = 0;
  const counted = new Proxy(store, {
    get: (target, prop) => {
      const value = Reflect.get(target, prop) as (...a: unknown[]) => unknown;
      return prop === "getUser" ? (...a: unknown[]) => (reads++, value.apply(target, a)) : value.bind(target);
    },
  }) as Store;
  const standing = createStanding({ store: counted, cacheMs: 2000, logger, now: () => clock });
  return { store, standing, reads: () => reads, tick: (ms: number) => (clock += ms), now: () => clock };
}

describe("account standing", () => {
  it("reuses an answer for cacheMs, one store read for concurrent checks, and sees a ban once it runs out", async () => {
    const { store, standing, reads, tick, now } = await setUp();
    await Promise.all([standing.check("u1"), standing.check("u1"), standing.check("u1")]);
    expect(reads()).toBe(1);
    await store.addBan({ id: "b1", userId: "u1", reason: "spam", by: "ops", at: at(now() - 1000), until: at(now() + 5000) });
    await standing.check("u1");
    tick(2001);
    await expect(standing.check("u1")).rejects.toMatchObject({ code: "BANNED", message: expect.stringContaining("spam") });
    // The ban's end ends the cached answer, not the cache interval.
    tick(4000);
    await standing.check("u1");
    await store.close();
  });

  it("says a missing account no longer exists, and forget() drops the cached answer at once", async () => {
    const { store, standing } = await setUp();
    await expect(standing.check("nobody")).rejects.toMatchObject({ code: "UNAUTHENTICATED", message: "the account no longer exists" });
    await standing.check("u1");
    await store.addBan({ id: "b1", userId: "u1", reason: "spam", by: "ops", at: at(0), until: null });
    standing.forget("u1");
    await expect(standing.check("u1")).rejects.toMatchObject({ code: "BANNED" });
    await store.close();
  });

  it("lets accounts through while the store is unreachable, and asks again within a second", async () => {
    let down = true;
    let reads = 0;
    const store = {
      getUser: async () => {
        reads++;
        if (down) throw new VchatError("UNAVAILABLE", "the database cannot be reached");
        return null;
      },
      activeBan: async () => null,
    } as unknown as Store;
    let clock = 0;
    const standing = createStanding({ store, cacheMs: 5000, logger, now: () => clock });
    await standing.check("u1");
    down = false;
    clock += 1001;
    await expect(standing.check("u1")).rejects.toMatchObject({ code: "UNAUTHENTICATED" });
    expect(reads).toBe(2);
  });
});
