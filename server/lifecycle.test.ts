import { describe, expect, it } from "vitest";
import { resources } from "./lifecycle.ts";

describe("resources: one ordered stop", () => {
  it("closes in the reverse order of opening, goes on past a failing step, and says which failed", async () => {
    const closed: string[] = [];
    const opened = resources();
    opened.add("store", () => void closed.push("store"));
    opened.add("redis", async () => {
      closed.push("redis");
      throw new Error("Connection is closed");
    });
    opened.add("service", async () => void closed.push("service"));
    expect(await opened.close()).toEqual([{ step: "redis", error: "Connection is closed" }]);
    expect(closed).toEqual(["service", "redis", "store"]);
    // Once: a second stop waits for the same one.
    expect(await opened.close()).toEqual([{ step: "redis", error: "Connection is closed" }]);
    expect(closed).toHaveLength(3);
  });
});
