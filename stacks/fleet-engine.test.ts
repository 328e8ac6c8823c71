/**
 * `localFleetEngine` against a stand-in `pulumi` binary (the real CLI cannot be installed here):
 * the fleet project and stack are selected, the config is checked before `up` starts, the policy
 * pack is passed, and failures come back in the fleet's words.
 */
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { policyPackDir } from "./engine.ts";
import { fleetDir, localFleetEngine } from "./fleet-engine.ts";
import { fleetSize } from "./fleet-size.ts";
import { offlineFleetOverrides } from "./offline.ts";
import { fakePulumi as standInPulumi, type FakePulumi } from "./testing/fake-pulumi.ts";

const fakes: FakePulumi[] = [];
afterAll(() => {
  for (const f of fakes) f.remove();
});

const size = fleetSize({ calls: 100, workers: 2, media: "synthetic" });
const validConfig = JSON.stringify(
  Object.fromEntries(Object.entries(offlineFleetOverrides).map(([k, v]) => [`vchat-fleet:${k}`, { value: v, secret: false }])),
);

/** The stand-in pulumi with the fleet's valid config unless told otherwise. Removed after the file's tests. */
function fakePulumi(o: { stackExists: boolean; config?: string; failure?: string }): FakePulumi {
  const fake = standInPulumi({ ...o, config: o.config ?? validConfig });
  fakes.push(fake);
  return fake;
}

describe("localFleetEngine on a stand-in pulumi binary", () => {
  it("a fleet stack that does not exist: STACK_NOT_FOUND naming the command that creates it; none is created", async () => {
    const fake = fakePulumi({ stackExists: false });
    const err = await localFleetEngine({ pulumiRoot: fake.root })
      .up("eu", size)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "STACK_NOT_FOUND",
      message: "fleet stack eu does not exist: create it with `pulumi -C stacks/fleet stack init eu` (docs/fleet.md)",
    });
    expect(fake.calls().filter((c) => /^(stack init|up)/.test(c))).toEqual([]);
  }, 20_000);

  it("unset keys stop `up` before the engine runs, each named with how to set it", async () => {
    const fake = fakePulumi({ stackExists: true, config: "{}" });
    const err = await localFleetEngine({ pulumiRoot: fake.root })
      .up("eu", size)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "STACK_CONFIG_INVALID", exitCode: 2 });
    expect((err as Error).message).toMatch(/vchat-fleet:vpcId is not set[\s\S]*vchat-fleet:subnetIds is not set[\s\S]*vchat-fleet:image is not set/);
    expect(fake.calls().some((c) => c.startsWith("up "))).toBe(false);
  }, 20_000);

  it("up runs in stacks/fleet with the policy pack; a concurrent update is STACK_BUSY in the fleet's words", async () => {
    const fake = fakePulumi({ stackExists: true, failure: "error: [409] Conflict: Another update is currently in progress." });
    const err = await localFleetEngine({ pulumiRoot: fake.root })
      .up("eu", size)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "STACK_BUSY", message: expect.stringContaining("pulumi -C stacks/fleet cancel --stack eu") });
    const up = fake.calls().find((c) => c.startsWith("up "))!;
    expect(up).toContain(`--policy-pack ${policyPackDir}`);
    expect(up).toContain("--stack eu");
    expect(fleetDir.endsWith(join("stacks", "fleet"))).toBe(true);
  }, 20_000);

  it("destroy removes everything (no protected data in a fleet)", async () => {
    const fake = fakePulumi({ stackExists: true });
    await localFleetEngine({ pulumiRoot: fake.root })
      .destroy("eu")
      .catch(() => undefined);
    const destroy = fake.calls().find((c) => c.startsWith("destroy "))!;
    expect(destroy).toContain("--stack eu");
    expect(destroy).not.toContain("--exclude-protected");
  }, 20_000);
});
