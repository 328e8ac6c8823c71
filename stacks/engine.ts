/**
 * The small interface the CLI drives stacks through, so `vchat up/preview/down/outputs` can be
 * tested against a fake. `localEngine()` implements it on Pulumi's Automation API
 * (`LocalWorkspace`, inline program); `checkPrerequisites()` says what is missing before any
 * of it starts, so nothing is left half-done.
 */
import { createDecipheriv, pbkdf2Sync } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { EnvName } from "./config.ts";

export type StackAction = "preview" | "up" | "destroy";

/** One engine event, reduced to what the progress tree shows. */
export type StackEvent =
  | { kind: "resource-start"; urn: string; type: string; name: string; parentUrn?: string; op: string; at: number }
  | { kind: "resource-done"; urn: string; op: string; at: number }
  | { kind: "resource-failed"; urn: string; op: string; at: number }
  | { kind: "diagnostic"; urn?: string; severity: "info" | "warning" | "error"; message: string }
  | { kind: "policy"; urn?: string; policy: string; level: "warning" | "mandatory"; message: string }
  | { kind: "summary"; changes: Record<string, number>; durationSeconds: number };

export interface ActionOptions {
  onEvent?: (e: StackEvent) => void;
  /** Aborting cancels the running operation (Ctrl-C). */
  signal?: AbortSignal;
}

export interface ActionResult {
  changes: Record<string, number>;
  /** Preview of a destroy: the resources it deletes, and the protected ones it leaves. */
  goes?: string[];
  stays?: string[];
  /** Present after `up`. Secret values are masked unless asked for. */
  outputs?: Record<string, StackOutput>;
}

export interface StackOutput {
  value: unknown;
  secret: boolean;
}

export interface StackEngine {
  /** Never creates the stack or writes its files; `savePlanTo` keeps the update plan for `up`. */
  preview(env: EnvName, opts?: ActionOptions & { savePlanTo?: string }): Promise<ActionResult>;
  /** With `plan`, applies exactly that previewed plan and fails if the stack or program moved. */
  up(env: EnvName, opts?: ActionOptions & { plan?: string }): Promise<ActionResult>;
  /** What `destroy` would delete (`goes`) and keep (`stays`: protected data). */
  previewDestroy(env: EnvName, opts?: ActionOptions): Promise<ActionResult>;
  /** Deletes everything but protected resources (`--exclude-protected`). */
  destroy(env: EnvName, opts?: ActionOptions): Promise<ActionResult>;
  outputs(env: EnvName, opts?: { showSecrets?: boolean }): Promise<Record<string, StackOutput>>;
}

/** Errors with a stable code and a message that says what to do. */
export class StackError extends Error {
  override name = "StackError";
  code: StackErrorCode;
  /** Exit status the CLI should use: 2 for setup problems, 1 for failed operations, 130 for Ctrl-C. */
  exitCode: number;
  constructor(code: StackErrorCode, message: string, exitCode: number) {
    super(message);
    this.code = code;
    this.exitCode = exitCode;
  }
}

export const stackErrorCodes = [
  "PULUMI_NOT_INSTALLED",
  "PULUMI_BACKEND_MISSING",
  "PULUMI_PASSPHRASE_MISSING",
  "PULUMI_PASSPHRASE_WRONG",
  "AWS_CREDENTIALS_MISSING",
  "ATLAS_CREDENTIALS_MISSING",
  "STACK_NOT_FOUND",
  "STACK_BUSY",
  "STACK_CONFIG_INVALID",
  "RELEASE_NOT_READY",
  "POLICY_VIOLATION",
  "CONFIRMATION_REQUIRED",
  "PLAN_CHANGED",
  "CANCELLED",
  "OPERATION_FAILED",
] as const;
export type StackErrorCode = (typeof stackErrorCodes)[number];

export const stacksDir = dirname(fileURLToPath(import.meta.url));
export const policyPackDir = join(stacksDir, "policy");

export interface PrerequisiteProbe {
  env: NodeJS.ProcessEnv;
  /** Path of an executable on PATH, or undefined. */
  which(name: string): string | undefined;
  exists(path: string): boolean;
  /** A file's text, or undefined when it cannot be read. */
  read?(path: string): string | undefined;
  home: string;
}

export function systemProbe(env: NodeJS.ProcessEnv = process.env): PrerequisiteProbe {
  return {
    env,
    home: homedir(),
    exists: existsSync,
    read(path) {
      try {
        return readFileSync(path, "utf8");
      } catch {
        return undefined;
      }
    },
    which(name) {
      const dirs = [...(env.PATH ?? "").split(delimiter), join(homedir(), ".pulumi", "bin")];
      for (const dir of dirs) {
        if (!dir) continue;
        const p = join(dir, name);
        try {
          if (statSync(p).isFile()) return p;
        } catch {
          // not here
        }
      }
      return undefined;
    },
  };
}

/**
 * Checks what an action needs before touching anything: the `pulumi` binary, a state backend,
 * AWS credentials and (for changes, unless `atlas: false`: the bots fleet has none) MongoDB Atlas API keys. Throws a `StackError` (exit 2)
 * naming everything missing and how to provide it.
 */
export function checkPrerequisites(action: StackAction | "outputs", probe: PrerequisiteProbe = systemProbe(), opts: { atlas?: boolean } = {}): void {
  const e = probe.env;
  const problems: { code: StackErrorCode; text: string }[] = [];
  if (!probe.which("pulumi")) {
    problems.push({
      code: "PULUMI_NOT_INSTALLED",
      text: "the pulumi CLI is not on PATH: install it (curl -fsSL https://get.pulumi.com | sh, or brew install pulumi) and open a new shell; `vchat preview --offline` works without it",
    });
  }
  const loggedIn = !!e.PULUMI_BACKEND_URL || !!e.PULUMI_ACCESS_TOKEN || probe.exists(join(probe.home, ".pulumi", "credentials.json"));
  if (!loggedIn) {
    problems.push({
      code: "PULUMI_BACKEND_MISSING",
      text: "no Pulumi state backend: run `pulumi login` (Pulumi Cloud or e.g. `pulumi login s3://my-state-bucket`), or set PULUMI_BACKEND_URL (and PULUMI_CONFIG_PASSPHRASE for self-managed backends)",
    });
  }
  // Self-managed backends encrypt secrets with a passphrase: without it every operation fails
  // after the engine started, with a prompt that cannot be answered here.
  const backend = e.PULUMI_BACKEND_URL ?? currentBackend(probe);
  if (backend && /^(s3|gs|azblob|file|postgres):\/\//.test(backend) && e.PULUMI_CONFIG_PASSPHRASE === undefined && !e.PULUMI_CONFIG_PASSPHRASE_FILE) {
    problems.push({
      code: "PULUMI_PASSPHRASE_MISSING",
      text: `the state backend ${backend.split("?")[0]} is self-managed: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) to the stack's passphrase`,
    });
  }
  if (action !== "outputs") {
    const awsKeys = !!e.AWS_ACCESS_KEY_ID && !!e.AWS_SECRET_ACCESS_KEY;
    const awsRole = !!e.AWS_WEB_IDENTITY_TOKEN_FILE && !!e.AWS_ROLE_ARN;
    const awsContainer = !!e.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || !!e.AWS_CONTAINER_CREDENTIALS_FULL_URI;
    const awsFiles =
      probe.exists(e.AWS_SHARED_CREDENTIALS_FILE ?? join(probe.home, ".aws", "credentials")) ||
      probe.exists(e.AWS_CONFIG_FILE ?? join(probe.home, ".aws", "config"));
    if (!awsKeys && !awsRole && !awsContainer && !awsFiles) {
      problems.push({
        code: "AWS_CREDENTIALS_MISSING",
        text: "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/config (aws configure / aws sso login)",
      });
    }
    const atlas =
      opts.atlas === false ||
      (!!e.MONGODB_ATLAS_PUBLIC_KEY && !!e.MONGODB_ATLAS_PRIVATE_KEY) ||
      (!!e.MONGODB_ATLAS_CLIENT_ID && !!e.MONGODB_ATLAS_CLIENT_SECRET);
    if (!atlas) {
      problems.push({
        code: "ATLAS_CREDENTIALS_MISSING",
        text: "no MongoDB Atlas API key: set MONGODB_ATLAS_PUBLIC_KEY and MONGODB_ATLAS_PRIVATE_KEY (an organisation API key with Project Creator)",
      });
    }
  }
  if (problems.length > 0) {
    throw new StackError(
      problems[0]!.code,
      `cannot ${action === "destroy" ? "run down" : action === "outputs" ? "read outputs" : `run ${action}`}, nothing was changed:\n  - ${problems.map((p) => p.text).join("\n  - ")}`,
      2,
    );
  }
}

/** The backend `pulumi login` selected (`current` in ~/.pulumi/credentials.json). */
function currentBackend(probe: PrerequisiteProbe): string | undefined {
  const text = probe.read?.(join(probe.home, ".pulumi", "credentials.json"));
  try {
    return text ? (JSON.parse(text) as { current?: string }).current : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `passphrase` opens a stack whose config file carries this `encryptionsalt`, checked as
 * Pulumi's passphrase secrets manager does: the state is `v1:<salt>:v1:<nonce>:<ciphertext+tag>`,
 * the key PBKDF2-HMAC-SHA256(passphrase, salt, 1,000,000 rounds, 32 bytes), and AES-256-GCM must
 * decrypt the ciphertext to `pulumi`. About a second of CPU, spent before anything else starts.
 */
export function passphraseOpens(encryptionSalt: string, passphrase: string): boolean {
  const [v1, salt, v1b, nonce, sealed] = encryptionSalt.split(":");
  if (v1 !== "v1" || v1b !== "v1" || !salt || !nonce || !sealed) return false;
  const data = Buffer.from(sealed, "base64");
  if (data.length < 17) return false;
  const key = pbkdf2Sync(passphrase, Buffer.from(salt, "base64"), 1_000_000, 32, "sha256");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(nonce, "base64"));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString("utf8") === "pulumi";
  } catch {
    return false;
  }
}

/** Refuses a passphrase that does not open `stacks/Pulumi.<env>.yaml`'s secrets, before the CLI would prompt or fail. */
export function checkPassphrase(env: EnvName, processEnv: NodeJS.ProcessEnv = process.env, dir = stacksDir): void {
  let file: string;
  try {
    file = readFileSync(join(dir, `Pulumi.${env}.yaml`), "utf8");
  } catch {
    return; // no stack file yet: nothing to check against
  }
  const salt = /^encryptionsalt:\s*(\S+)\s*$/m.exec(file)?.[1];
  if (!salt) return; // not a passphrase stack
  let passphrase = processEnv.PULUMI_CONFIG_PASSPHRASE;
  if (passphrase === undefined && processEnv.PULUMI_CONFIG_PASSPHRASE_FILE) {
    try {
      passphrase = readFileSync(processEnv.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").replace(/\r?\n$/, "");
    } catch {
      throw new StackError("PULUMI_PASSPHRASE_MISSING", `PULUMI_CONFIG_PASSPHRASE_FILE ${processEnv.PULUMI_CONFIG_PASSPHRASE_FILE} cannot be read`, 2);
    }
  }
  if (passphrase === undefined)
    throw new StackError(
      "PULUMI_PASSPHRASE_MISSING",
      `stack ${env} encrypts its secrets with a passphrase: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)`,
      2,
    );
  if (!passphraseOpens(salt, passphrase)) {
    throw new StackError(
      "PULUMI_PASSPHRASE_WRONG",
      `PULUMI_CONFIG_PASSPHRASE does not open stack ${env}'s secrets (stacks/Pulumi.${env}.yaml): nothing was started`,
      2,
    );
  }
}

interface AutomationEvent {
  resourcePreEvent?: { metadata: { op: string; urn: string; type: string; new?: { parent?: string }; old?: { parent?: string } } };
  resOutputsEvent?: { metadata: { op: string; urn: string } };
  resOpFailedEvent?: { metadata: { op: string; urn: string } };
  diagnosticEvent?: { urn?: string; message: string; severity: string };
  policyEvent?: { resourceUrn?: string; message: string; policyName: string; enforcementLevel: "warning" | "mandatory" };
  summaryEvent?: { resourceChanges: Record<string, number | undefined>; durationSeconds: number };
  timestamp?: number;
}

/** The name part of a URN (`urn:pulumi:stack::project::type$type::name`). */
export function urnName(urn: string): string {
  return urn.split("::").pop() ?? urn;
}

/** Reduces an Automation API engine event to a `StackEvent`, or nothing for the rest. */
export function toStackEvent(e: AutomationEvent, now = Date.now()): StackEvent | undefined {
  if (e.resourcePreEvent) {
    const m = e.resourcePreEvent.metadata;
    if (m.type === "pulumi:pulumi:Stack" && !m.urn) return undefined;
    return { kind: "resource-start", urn: m.urn, type: m.type, name: urnName(m.urn), parentUrn: m.new?.parent ?? m.old?.parent, op: m.op, at: now };
  }
  if (e.resOutputsEvent) return { kind: "resource-done", urn: e.resOutputsEvent.metadata.urn, op: e.resOutputsEvent.metadata.op, at: now };
  if (e.resOpFailedEvent) return { kind: "resource-failed", urn: e.resOpFailedEvent.metadata.urn, op: e.resOpFailedEvent.metadata.op, at: now };
  if (e.diagnosticEvent) {
    const sev = e.diagnosticEvent.severity.startsWith("info") ? "info" : e.diagnosticEvent.severity === "warning" ? "warning" : "error";
    return { kind: "diagnostic", urn: e.diagnosticEvent.urn, severity: sev, message: e.diagnosticEvent.message.trim() };
  }
  if (e.policyEvent) {
    return {
      kind: "policy",
      urn: e.policyEvent.resourceUrn,
      policy: e.policyEvent.policyName,
      level: e.policyEvent.enforcementLevel,
      message: e.policyEvent.message.trim(),
    };
  }
  if (e.summaryEvent) {
    const changes: Record<string, number> = {};
    for (const [k, v] of Object.entries(e.summaryEvent.resourceChanges)) if (v) changes[k] = v;
    return { kind: "summary", changes, durationSeconds: e.summaryEvent.durationSeconds };
  }
  return undefined;
}

/** Maps an Automation API failure to a `StackError` with a clear message. */
export function mapAutomationError(err: unknown, env: EnvName, action: StackAction | "outputs", signal?: AbortSignal): StackError {
  if (err instanceof StackError) return err;
  const e = err as Error & { commandResult?: { stderr?: string; stdout?: string } };
  const text = `${e?.message ?? String(err)}\n${e?.commandResult?.stderr ?? ""}`;
  if (signal?.aborted || /\bcancel(l)?ed\b|context canceled/i.test(text)) {
    return new StackError(
      "CANCELLED",
      `${action} of ${env} cancelled; resources already changed stay as they are, run \`vchat ${action === "destroy" ? "down" : action} --env ${env}\` again to converge`,
      130,
    );
  }
  if (e?.name === "ConcurrentUpdateError" || /conflict: Another update is currently in progress|\[409\] Conflict/i.test(text)) {
    return new StackError(
      "STACK_BUSY",
      `another update is running on stack ${env}; wait for it, or if it crashed, run \`pulumi cancel --stack ${env}\` in stacks/`,
      1,
    );
  }
  if (e?.name === "StackNotFoundError" || /no stack named|stack .* not found/i.test(text)) {
    return new StackError(
      "STACK_NOT_FOUND",
      `stack ${env} does not exist yet: create it with \`pulumi -C stacks stack init ${env}\`, set the keys docs/stacks.md lists, then \`vchat up --env ${env}\``,
      1,
    );
  }
  if (/STACK_CONFIG_INVALID|stack config for .* is invalid/.test(text)) {
    const m = /stack config for [\s\S]*?(?=\n\s*at |\n\n|$)/.exec(text);
    return new StackError("STACK_CONFIG_INVALID", m ? m[0].trim() : "stack config is invalid", 2);
  }
  if (/cannot ship \w+:/.test(text)) {
    const m = /cannot ship [\s\S]*?(?=\n\s*at |\n\n|$)/.exec(text);
    return new StackError("RELEASE_NOT_READY", m ? m[0].trim() : "the release is not ready", 2);
  }
  if (/incorrect passphrase|passphrase must be set|PULUMI_CONFIG_PASSPHRASE/i.test(text)) {
    return new StackError(
      "PULUMI_PASSPHRASE_MISSING",
      `the passphrase does not open stack ${env}'s secrets: set PULUMI_CONFIG_PASSPHRASE to the one the stack was created with`,
      2,
    );
  }
  // The engine's words when an update strays from its plan (pkg/engine/lifecycletest/update_plan_test.go).
  if (/violates plan|is not allowed by the plan|expected resource operations for .* but none were seen/i.test(text)) {
    return new StackError(
      "PLAN_CHANGED",
      `${env} or the program changed since the plan you confirmed; nothing beyond it was applied: run \`vchat up --env ${env}\` again to see the new plan`,
      1,
    );
  }
  if (/mandatory policy violation|policy violations?/i.test(text)) {
    return new StackError("POLICY_VIOLATION", `the vchat policy pack refused the ${action} of ${env}; see the policy messages above`, 1);
  }
  if (/NoCredentialProviders|no valid credential sources|ExpiredToken|InvalidClientTokenId/i.test(text)) {
    return new StackError(
      "AWS_CREDENTIALS_MISSING",
      "AWS rejected the credentials (missing, expired or invalid): refresh them (aws sso login / new keys) and try again",
      2,
    );
  }
  const lastLines = text
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-6)
    .join("\n  ");
  return new StackError("OPERATION_FAILED", `${action} of ${env} failed:\n  ${lastLines}`, 1);
}

/** What this checkout cannot ship for a stack running `image` (or building its own), one line each. */
async function releaseProblems(image: string | undefined): Promise<string[]> {
  const { checkoutRoot, readRelease, releaseToolProblems } = await import("./release.ts");
  const release = readRelease(checkoutRoot, image);
  return [...release.problems, ...releaseToolProblems(release, systemProbe().which)];
}

/**
 * The Automation API implementation (needs the pulumi CLI, a backend and cloud credentials).
 * `pulumiRoot` picks the installation in `<root>/bin/pulumi` instead of the one on PATH;
 * `release` replaces the check of this checkout's web build, Dockerfile and tools.
 */
export function localEngine(opts: { pulumiRoot?: string; release?: (image: string | undefined) => Promise<string[]> } = {}): StackEngine {
  async function open(env: EnvName, create: boolean) {
    checkPassphrase(env);
    const { LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation/index.js");
    const { inlineProgram } = await import("./program.ts");
    const args = { stackName: env, projectName: "vchat", program: inlineProgram(env) };
    // stacks/Pulumi.yaml is the project file; the workspace reads it (and never rewrites it).
    const wsOpts = { workDir: stacksDir, ...(opts.pulumiRoot ? { pulumiCommand: await PulumiCommand.get({ root: opts.pulumiRoot }) } : {}) };
    // Only `up` creates a stack; a preview of a missing one says how to start it.
    return create ? LocalWorkspace.createOrSelectStack(args, wsOpts) : LocalWorkspace.selectStack(args, wsOpts);
  }
  /**
   * The stack, its config checked before the engine starts: a missing certificate ARN stops
   * here, not halfway through creating resources. Nothing is written to the stack: the region
   * goes to the program's own AWS provider.
   */
  async function checked(env: EnvName, create: boolean) {
    const stack = await open(env, create);
    const { ConfigError, configKeys, resolveEnvConfig } = await import("./config.ts");
    const all = await stack.getAllConfig();
    const overrides = Object.fromEntries(configKeys.flatMap((k) => (all[`vchat:${k}`]?.value !== undefined ? [[k, all[`vchat:${k}`]!.value]] : [])));
    let image: string | undefined;
    try {
      image = resolveEnvConfig(env, overrides).service.image;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new StackError("STACK_CONFIG_INVALID", `${err.message}\nset values with: pulumi -C stacks config set --stack ${env} vchat:<key> <value>`, 2);
    }
    // What the program would refuse to ship (no web build, no Docker), said before the engine starts.
    const problems = await (opts.release ?? releaseProblems)(image);
    if (problems.length > 0) throw new StackError("RELEASE_NOT_READY", `cannot ship ${env}:\n  ${problems.join("\n  ")}`, 2);
    return stack;
  }
  const relay = (opts?: ActionOptions) => (e: unknown) => {
    const ev = toStackEvent(e as AutomationEvent);
    if (ev) opts?.onEvent?.(ev);
  };
  const outputsOf = (o: Record<string, { value: unknown; secret: boolean }>, showSecrets: boolean) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { value: v.secret && !showSecrets ? "[secret]" : v.value, secret: v.secret }]));
  const changesOf = (m: Record<string, number | undefined> | undefined) =>
    Object.fromEntries(Object.entries(m ?? {}).filter(([, v]) => v)) as Record<string, number>;

  return {
    async preview(env, opts) {
      try {
        const stack = await checked(env, false);
        const r = await stack.preview({
          onEvent: relay(opts),
          signal: opts?.signal,
          policyPacks: [policyPackDir],
          ...(opts?.savePlanTo ? { plan: opts.savePlanTo } : {}),
        });
        return { changes: changesOf(r.changeSummary) };
      } catch (err) {
        throw mapAutomationError(err, env, "preview", opts?.signal);
      }
    },
    async up(env, opts) {
      try {
        const stack = await checked(env, true);
        const r = await stack.up({ onEvent: relay(opts), signal: opts?.signal, policyPacks: [policyPackDir], ...(opts?.plan ? { plan: opts.plan } : {}) });
        return { changes: changesOf(r.summary.resourceChanges), outputs: outputsOf(r.outputs, false) };
      } catch (err) {
        throw mapAutomationError(err, env, "up", opts?.signal);
      }
    },
    async previewDestroy(env, opts) {
      try {
        const stack = await open(env, false);
        const goes: string[] = [];
        const r = await stack.previewDestroy({
          excludeProtected: true,
          signal: opts?.signal,
          onEvent: (e) => {
            const ev = toStackEvent(e);
            if (ev?.kind === "resource-start" && ev.op === "delete") goes.push(ev.name);
            if (ev) opts?.onEvent?.(ev);
          },
        });
        const state = (await stack.exportStack()).deployment as { resources?: { urn: string; protect?: boolean }[] };
        const stays = (state.resources ?? []).filter((x) => x.protect).map((x) => urnName(x.urn));
        return { changes: changesOf(r.changeSummary), goes, stays };
      } catch (err) {
        throw mapAutomationError(err, env, "destroy", opts?.signal);
      }
    },
    async destroy(env, opts) {
      try {
        const stack = await open(env, false);
        // Protected data (prod) stays, with what it depends on; everything else goes.
        const r = await stack.destroy({ onEvent: relay(opts), signal: opts?.signal, excludeProtected: true });
        return { changes: changesOf(r.summary.resourceChanges) };
      } catch (err) {
        throw mapAutomationError(err, env, "destroy", opts?.signal);
      }
    },
    async outputs(env, opts) {
      try {
        const stack = await open(env, false);
        return outputsOf(await stack.outputs(), opts?.showSecrets ?? false);
      } catch (err) {
        throw mapAutomationError(err, env, "outputs");
      }
    },
  };
}
