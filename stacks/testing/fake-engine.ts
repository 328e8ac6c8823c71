/**
 * A fake `StackEngine` for the CLI tests: no Pulumi CLI, no cloud. It replays a small event
 * stream shaped like the Automation API's (via `toStackEvent`), records its calls, and can be
 * told to fail or to wait for Ctrl-C.
 */
import { mapAutomationError, toStackEvent, type ActionOptions, type ActionResult, type StackEngine, type StackOutput } from "../engine.ts";
import type { EnvName } from "../config.ts";

export interface FakeEngineOptions {
  /** Throw this (through the real error mapping) instead of finishing. */
  failWith?: Error;
  /** Block after the first resource until the signal aborts. */
  waitForAbort?: boolean;
  outputs?: Record<string, StackOutput>;
  /** What a destroy would keep (protected data); prod-like when set. */
  protectedNames?: string[];
}

const urn = (env: string, types: string[], name: string) => `urn:pulumi:${env}::vchat::${types.join("$")}::${name}`;

/** Engine events as the Automation API emits them (the subset toStackEvent reads). */
export function sampleEngineEvents(env: EnvName, op: "create" | "delete" | "same" = "create") {
  const root = urn(env, ["vchat:stacks:Environment"], `vchat-${env}`);
  const turn = urn(env, ["vchat:stacks:Environment", "vchat:stacks:Turn"], `vchat-${env}-turn`);
  const asg = urn(env, ["vchat:stacks:Environment", "vchat:stacks:Turn", "aws:autoscaling/group:Group"], `vchat-${env}-turn-asg`);
  const pre = (u: string, type: string, parent?: string) => ({ resourcePreEvent: { metadata: { op, urn: u, type, new: parent ? { parent } : {} } } });
  const done = (u: string) => ({ resOutputsEvent: { metadata: { op, urn: u } } });
  return [
    pre(root, "vchat:stacks:Environment"),
    pre(turn, "vchat:stacks:Turn", root),
    pre(asg, "aws:autoscaling/group:Group", turn),
    { diagnosticEvent: { message: "waiting for capacity\n", severity: "warning", urn: asg } },
    done(asg),
    done(turn),
    done(root),
    { summaryEvent: { resourceChanges: { [op]: 3 }, durationSeconds: 2 } },
  ];
}

export class FakeEngine implements StackEngine {
  calls: { action: string; env: EnvName; showSecrets?: boolean; plan?: string; savePlanTo?: string }[] = [];
  private opts: FakeEngineOptions;
  constructor(opts: FakeEngineOptions = {}) {
    this.opts = opts;
  }

  private async run(
    action: "preview" | "up" | "destroy" | "previewDestroy",
    env: EnvName,
    o?: ActionOptions & { plan?: string; savePlanTo?: string },
  ): Promise<ActionResult> {
    this.calls.push({ action, env, ...(o?.plan ? { plan: o.plan } : {}), ...(o?.savePlanTo ? { savePlanTo: o.savePlanTo } : {}) });
    const deleting = action === "destroy" || action === "previewDestroy";
    const events = sampleEngineEvents(env, deleting ? "delete" : "create");
    let t = 1_000;
    for (const [i, raw] of events.entries()) {
      const ev = toStackEvent(raw, (t += 250));
      if (ev) o?.onEvent?.(ev);
      if (i === 2 && this.opts.waitForAbort) {
        await new Promise<void>((resolve) => {
          if (o?.signal?.aborted) return resolve();
          o?.signal?.addEventListener("abort", () => resolve(), { once: true });
        });
        throw mapAutomationError(new Error("update canceled"), env, deleting ? "destroy" : action, o?.signal);
      }
      if (i === 2 && this.opts.failWith) throw mapAutomationError(this.opts.failWith, env, deleting ? "destroy" : action, o?.signal);
    }
    const changes = { [deleting ? "delete" : "create"]: 3 };
    if (action === "previewDestroy")
      return { changes, goes: [`vchat-${env}`, `vchat-${env}-turn`, `vchat-${env}-turn-asg`], stays: this.opts.protectedNames ?? [] };
    return action === "up" ? { changes, outputs: this.maskedOutputs(false) } : { changes };
  }

  private maskedOutputs(showSecrets: boolean): Record<string, StackOutput> {
    const all = this.opts.outputs ?? {
      webUrl: { value: "https://d111.cloudfront.net", secret: false },
      apiUrl: { value: "https://d111.cloudfront.net", secret: false },
      turnUrls: { value: ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349?transport=tcp"], secret: false },
      redisEndpoint: { value: "master.vchat.cache.amazonaws.com", secret: false },
      atlasConnectionString: { value: "mongodb+srv://vchat:hunter2@vchat.mongodb.net/vchat", secret: true },
    };
    return Object.fromEntries(Object.entries(all).map(([k, o]) => [k, { value: o.secret && !showSecrets ? "[secret]" : o.value, secret: o.secret }]));
  }

  preview(env: EnvName, o?: ActionOptions & { savePlanTo?: string }) {
    return this.run("preview", env, o);
  }
  up(env: EnvName, o?: ActionOptions & { plan?: string }) {
    return this.run("up", env, o);
  }
  previewDestroy(env: EnvName, o?: ActionOptions) {
    return this.run("previewDestroy", env, o);
  }
  destroy(env: EnvName, o?: ActionOptions) {
    return this.run("destroy", env, o);
  }
  async outputs(env: EnvName, o?: { showSecrets?: boolean }) {
    this.calls.push({ action: "outputs", env, showSecrets: o?.showSecrets });
    if (this.opts.failWith) throw mapAutomationError(this.opts.failWith, env, "outputs");
    return this.maskedOutputs(o?.showSecrets ?? false);
  }
}
