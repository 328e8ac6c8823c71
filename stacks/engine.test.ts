/**
 * The real Automation API implementation (`localEngine`) against a stand-in `pulumi` binary:
 * the actual CLI cannot be installed here, so a shell script plays it, records its arguments,
 * and fails the way the real one does. This checks the wiring (stack selection, region config,
 * policy pack) and the error mapping without a cloud.
 */
import { createCipheriv, pbkdf2Sync, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkPassphrase, checkPrerequisites, localEngine, policyPackDir, StackError, type PrerequisiteProbe } from "./engine.ts";
import { fakePulumi as standInPulumi, type FakePulumi } from "./testing/fake-pulumi.ts";

const fakes: FakePulumi[] = [];
const roots: string[] = [];
afterAll(() => {
  for (const f of fakes) f.remove();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

const validConfig = JSON.stringify({
  "vchat:certificateArn": { value: "arn:aws:acm:eu-west-1:123456789012:certificate/abc-123", secret: false },
  "vchat:apiDomain": { value: "api.example.org", secret: false },
  "vchat:atlasOrgId": { value: "5f0000000000000000000000", secret: false },
});

/** The stand-in pulumi; `up`, `preview` and `destroy` fail printing `failure`. Removed after the file's tests. */
function fakePulumi(failure: string, config = validConfig): FakePulumi {
  const fake = standInPulumi({ config, failure });
  fakes.push(fake);
  return fake;
}

/** A checkout that can ship: the release check passes, whatever this machine has. */
const shippable = async () => [];

describe("localEngine on a stand-in pulumi binary", () => {
  it("outputs of a missing stack: STACK_NOT_FOUND with what to run", async () => {
    const fake = fakePulumi("");
    const err = await localEngine({ pulumiRoot: fake.root, release: shippable })
      .outputs("prod")
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackError);
    expect(err).toMatchObject({ code: "STACK_NOT_FOUND", exitCode: 1 });
    expect((err as Error).message).toBe(
      "stack prod does not exist yet: create it with `pulumi -C stacks stack init prod`, set the keys docs/stacks.md lists, then `vchat up --env prod`",
    );
  });

  it("preview never creates or writes a stack: a missing one is STACK_NOT_FOUND, no init, no config set", async () => {
    const fake = fakePulumi("should not get here");
    const err = await localEngine({ pulumiRoot: fake.root, release: shippable })
      .preview("dev")
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "STACK_NOT_FOUND" });
    expect(fake.calls().filter((c) => /^(stack init|config set|preview)/.test(c))).toEqual([]);
  }, 20_000);

  it("up creates the missing stack, writes no config, passes the policy pack, maps a concurrent update", async () => {
    const fake = fakePulumi("error: [409] Conflict: Another update is currently in progress.");
    const err = await localEngine({ pulumiRoot: fake.root, release: shippable })
      .up("dev")
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "STACK_BUSY" });
    const calls = fake.calls();
    // createOrSelectStack: select fails (no such stack), so it creates it.
    expect(calls).toEqual(expect.arrayContaining(["stack select --stack dev --non-interactive", "stack init dev --non-interactive"]));
    // The region goes to the program's provider: nothing is written into the stack.
    expect(calls.some((c) => c.startsWith("config set"))).toBe(false);
    const up = calls.find((c) => c.startsWith("up "))!;
    expect(up).toContain(`--policy-pack ${policyPackDir}`);
    expect(up).toContain("--stack dev");
  }, 20_000);

  it("a mandatory policy violation becomes POLICY_VIOLATION", async () => {
    const fake = fakePulumi("error: preview failed: mandatory policy violation: only-turn-and-web-ports-public");
    const err = await localEngine({ pulumiRoot: fake.root, release: shippable })
      .up("dev")
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "POLICY_VIOLATION", exitCode: 1 });
  }, 20_000);
});

describe("plans and destroys on an existing stack", () => {
  const existing = <T>(run: () => Promise<T>) => {
    process.env.VCHAT_FAKE_STACK_EXISTS = "1";
    return run().finally(() => delete process.env.VCHAT_FAKE_STACK_EXISTS);
  };

  it("preview saves the update plan and up applies that plan (--save-plan / --plan)", async () => {
    const fake = fakePulumi("error: something else");
    await existing(() =>
      localEngine({ pulumiRoot: fake.root, release: shippable })
        .preview("dev", { savePlanTo: "/tmp/dev.plan.json" })
        .catch(() => undefined),
    );
    await existing(() =>
      localEngine({ pulumiRoot: fake.root, release: shippable })
        .up("dev", { plan: "/tmp/dev.plan.json" })
        .catch(() => undefined),
    );
    const calls = fake.calls();
    expect(calls.find((c) => c.startsWith("preview "))).toContain("--save-plan /tmp/dev.plan.json");
    expect(calls.find((c) => c.startsWith("up "))).toContain("--plan /tmp/dev.plan.json");
  }, 20_000);

  it("down's preview is a destroy preview, and both leave protected resources", async () => {
    const fake = fakePulumi("error: something else");
    await existing(() =>
      localEngine({ pulumiRoot: fake.root, release: shippable })
        .previewDestroy("prod")
        .catch(() => undefined),
    );
    await existing(() =>
      localEngine({ pulumiRoot: fake.root, release: shippable })
        .destroy("prod")
        .catch(() => undefined),
    );
    const destroys = fake.calls().filter((c) => c.startsWith("destroy "));
    expect(destroys).toHaveLength(2);
    expect(destroys[0]).toMatch(/--preview-only/);
    for (const d of destroys) expect(d).toContain("--exclude-protected");
    expect(destroys[1]).not.toMatch(/--preview-only/);
  }, 20_000);

  it("a plan that no longer matches becomes PLAN_CHANGED", async () => {
    const fake = fakePulumi("error: resource urn:pulumi:dev::vchat::aws:ec2/vpc:Vpc::x violates plan: properties changed");
    const err = await existing(() =>
      localEngine({ pulumiRoot: fake.root, release: shippable })
        .up("dev", { plan: "/tmp/p.json" })
        .catch((e: unknown) => e),
    );
    expect(err).toMatchObject({ code: "PLAN_CHANGED" });
  }, 20_000);
});

describe("the release is checked before the engine runs", () => {
  it("what the checkout cannot ship: every problem named, exit 2, no preview or up started", async () => {
    const fake = fakePulumi("should not get here");
    const problems = ["web/dist is not built: run `npm run build:web` first (vchat up uploads it to the bucket)", "docker is not on PATH: ..."];
    const seen: (string | undefined)[] = [];
    const engine = localEngine({ pulumiRoot: fake.root, release: async (image) => (seen.push(image), problems) });
    const err = await engine.up("dev").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "RELEASE_NOT_READY", exitCode: 2, message: `cannot ship dev:\n  ${problems.join("\n  ")}` });
    // Asked for the stack's image (none set here: a build).
    expect(seen).toEqual([undefined]);
    expect(fake.calls().some((c) => /^(up|preview) /.test(c))).toBe(false);
  }, 20_000);
});

describe("stack config is checked before the engine runs", () => {
  it("a fresh stack with no config: every missing key named, one per line, exit 2, no up started", async () => {
    const fake = fakePulumi("should not get here", "{}");
    const err = await localEngine({ pulumiRoot: fake.root, release: shippable })
      .up("dev")
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "STACK_CONFIG_INVALID", exitCode: 2 });
    const lines = (err as Error).message.split("\n").map((l) => l.trim());
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^vchat:apiDomain is not set \(pulumi config set vchat:apiDomain /),
        expect.stringMatching(/^vchat:certificateArn is not set \(pulumi config set vchat:certificateArn arn:aws:acm:/),
        expect.stringMatching(/^vchat:atlasOrgId is not set/),
      ]),
    );
    expect(fake.calls().some((c) => c.startsWith("up "))).toBe(false);
  }, 20_000);
});

describe("the passphrase is checked against the stack file before anything starts", () => {
  // A stack file's encryptionsalt, made the way Pulumi's passphrase secrets manager makes it.
  function encryptionSalt(passphrase: string): string {
    const salt = randomBytes(8);
    const nonce = randomBytes(12);
    const key = pbkdf2Sync(passphrase, salt, 1_000_000, 32, "sha256");
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    const sealed = Buffer.concat([cipher.update("pulumi", "utf8"), cipher.final(), cipher.getAuthTag()]);
    return `v1:${salt.toString("base64")}:v1:${nonce.toString("base64")}:${sealed.toString("base64")}`;
  }

  it("refuses a wrong or missing passphrase with a stable code, accepts the right one", () => {
    const dir = mkdtempSync(join(tmpdir(), "vchat-stackfile-"));
    roots.push(dir);
    writeFileSync(join(dir, "Pulumi.dev.yaml"), `encryptionsalt: ${encryptionSalt("correct horse")}\nconfig:\n  vchat:apiDomain: api.example.org\n`);
    expect(() => checkPassphrase("dev", { PULUMI_CONFIG_PASSPHRASE: "correct horse" }, dir)).not.toThrow();
    expect(() => checkPassphrase("dev", { PULUMI_CONFIG_PASSPHRASE: "wrong horse" }, dir)).toThrow(
      expect.objectContaining({ code: "PULUMI_PASSPHRASE_WRONG", exitCode: 2 }),
    );
    expect(() => checkPassphrase("dev", {}, dir)).toThrow(expect.objectContaining({ code: "PULUMI_PASSPHRASE_MISSING" }));
    writeFileSync(join(dir, "pass"), "correct horse\n");
    expect(() => checkPassphrase("dev", { PULUMI_CONFIG_PASSPHRASE_FILE: join(dir, "pass") }, dir)).not.toThrow();
    // No stack file, or one without a salt (Pulumi Cloud or KMS secrets): nothing to check.
    expect(() => checkPassphrase("prod", {}, dir)).not.toThrow();
  }, 30_000);
});

describe("checkPrerequisites", () => {
  const probe = (env: NodeJS.ProcessEnv, files: string[] = [], pulumi = true): PrerequisiteProbe => ({
    env,
    home: "/home/op",
    which: (n) => (pulumi && n === "pulumi" ? "/usr/bin/pulumi" : undefined),
    exists: (p) => files.includes(p),
  });
  const atlas = { MONGODB_ATLAS_PUBLIC_KEY: "a", MONGODB_ATLAS_PRIVATE_KEY: "b" };

  it("accepts a profile file, web identity, or container credentials for AWS", () => {
    expect(() => checkPrerequisites("up", probe({ ...atlas }, ["/home/op/.pulumi/credentials.json", "/home/op/.aws/config"]))).not.toThrow();
    expect(() => checkPrerequisites("up", probe({ ...atlas, PULUMI_ACCESS_TOKEN: "t", AWS_WEB_IDENTITY_TOKEN_FILE: "/t", AWS_ROLE_ARN: "arn" }))).not.toThrow();
    expect(() =>
      checkPrerequisites(
        "destroy",
        probe({ ...atlas, PULUMI_BACKEND_URL: "s3://b", PULUMI_CONFIG_PASSPHRASE_FILE: "/p", AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2" }),
      ),
    ).not.toThrow();
  });

  it("says which piece is missing, with a stable code and exit 2", () => {
    const e = (() => {
      try {
        checkPrerequisites("up", probe({ PULUMI_BACKEND_URL: "s3://b", PULUMI_CONFIG_PASSPHRASE: "x", AWS_PROFILE: "x" }));
      } catch (err) {
        return err as StackError;
      }
    })();
    expect(e).toMatchObject({ code: "AWS_CREDENTIALS_MISSING", exitCode: 2 });
    expect(e!.message).toMatch(/Atlas API key: set MONGODB_ATLAS_PUBLIC_KEY/);
  });

  it("asks for the passphrase of a self-managed backend up front (env or `pulumi login` state)", () => {
    const aws = { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b", ...atlas };
    expect(() => checkPrerequisites("preview", probe({ ...aws, PULUMI_BACKEND_URL: "s3://state" }))).toThrow(/PULUMI_CONFIG_PASSPHRASE/);
    expect(() => checkPrerequisites("preview", probe({ ...aws, PULUMI_BACKEND_URL: "s3://state", PULUMI_CONFIG_PASSPHRASE: "x" }))).not.toThrow();
    const loggedIn: PrerequisiteProbe = { ...probe(aws, ["/home/op/.pulumi/credentials.json"]), read: () => JSON.stringify({ current: "file:///srv/state" }) };
    expect(() => checkPrerequisites("up", loggedIn)).toThrow(/the state backend file:\/\/\/srv\/state is self-managed/);
    expect(() => checkPrerequisites("up", probe({ ...aws, PULUMI_ACCESS_TOKEN: "t" }))).not.toThrow();
  });
});
