/**
 * `vchat up / preview / down / outputs`: the AWS environment of `stacks/` through Pulumi's
 * Automation API. The commands parse options and drive a `StackEngine`; the views render.
 * `vchat preview --offline` runs the same program on Pulumi's mocks: no CLI, no cloud account.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline/promises";
import { Option, type Command } from "commander";
import React from "react";
import { environments, type EnvName } from "../../stacks/config.ts";
import {
  checkPrerequisites,
  localEngine,
  StackError,
  systemProbe,
  urnName,
  type ActionResult,
  type PrerequisiteProbe,
  type StackAction,
  type StackEngine,
  type StackEvent,
} from "../../stacks/engine.ts";
import { exitCodes, intOption, UsageError } from "../exit.ts";
import { addContext, type Context } from "../contexts.ts";
import { interruption } from "../signals.ts";
import type { ProgressRow, ProgressViewProps } from "../ui/stacks.ts";

const h = React.createElement;

/** Ink and the views load only when a stacks command runs: ink alone costs ~0.7 s to import. */
async function ui() {
  const [ink, views] = await Promise.all([import("ink"), import("../ui/stacks.ts")]);
  return { render: ink.render, renderToString: ink.renderToString, ...views };
}

export interface StacksDeps {
  engine: () => StackEngine;
  probe: () => PrerequisiteProbe;
  stdout: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  stderr: { write(s: string): unknown };
  /** Asks a yes/no question on the terminal. */
  confirm: (question: string) => Promise<boolean>;
  setExitCode: (code: number) => void;
  /** Saves a target for `--context` (after `up`); returns where. */
  saveContext: (name: string, ctx: Context) => string;
  /** Resolves an AbortSignal that fires on Ctrl-C; `dispose` removes the handler. */
  interrupt: () => { signal: AbortSignal; dispose(): void };
}

export const defaultStacksDeps: StacksDeps = {
  engine: localEngine,
  probe: () => systemProbe(),
  stdout: process.stdout,
  stderr: process.stderr,
  async confirm(question) {
    const rl = createInterface({ input: process.stdin, output: process.stdout });
    try {
      return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
    } finally {
      rl.close();
    }
  },
  setExitCode(code) {
    process.exitCode = code;
  },
  saveContext: (name, ctx) => addContext(name, ctx),
  // Pulumi cancels on the abort (exit 130, CANCELLED); a second Ctrl-C forces.
  interrupt: () => interruption(),
};

export interface PreviewOptions {
  env: EnvName;
  offline: boolean;
  json: boolean;
  /** With `offline`: plan a bots fleet of this many workers instead of the environment. */
  fleet?: number;
  /** The fleet's calls. */
  pairs?: number;
}
export interface ChangeOptions {
  env: EnvName;
  yes: boolean;
  json: boolean;
  /** `vchat down --env prod` needs it besides the confirmation. */
  destroyProd?: boolean;
}
export interface OutputsOptions {
  env: EnvName;
  json: boolean;
  showSecrets: boolean;
}

const envOption = () => new Option("--env <env>", "stack (environment)").choices(environments).default("dev");

export function registerStacks(program: Command, overrides: Partial<StacksDeps> = {}): void {
  const deps = { ...defaultStacksDeps, ...overrides };
  program
    .command("preview")
    .description("show what `vchat up` would change; --offline plans on Pulumi mocks without CLI or cloud account")
    .addOption(envOption())
    .option("--offline", "run the program on Pulumi's mocks and render the planned resources", false)
    .option(
      "--fleet <workers>",
      "with --offline: plan a bots fleet of this many workers (the vchat-fleet project, docs/fleet.md)",
      intOption("--fleet", 1, 1000),
    )
    .option("--pairs <n>", "with --fleet: the calls the fleet is sized for", intOption("--pairs", 1, 1_000_000), 1000)
    .option("--json", "print JSON for machines", false)
    .action(async (opts: PreviewOptions) => deps.setExitCode(await stacksPreview(opts, deps)));
  program
    .command("up")
    .description("create or update the AWS environment (CloudFront, ALB, NLB, coturn ASG, ElastiCache, Atlas)")
    .addOption(envOption())
    .option("--yes", "apply without asking (required when not on a terminal)", false)
    .option("--json", "print JSON for machines (needs --yes)", false)
    .action(async (opts: ChangeOptions) => deps.setExitCode(await stacksChange("up", opts, deps)));
  program
    .command("down")
    .description("destroy the AWS environment of a stack")
    .addOption(envOption())
    .option("--yes", "destroy without asking (required when not on a terminal)", false)
    .option("--destroy-prod", "required for --env prod, besides the confirmation; protected data stays", false)
    .option("--json", "print JSON for machines (needs --yes)", false)
    .action(async (opts: ChangeOptions) => deps.setExitCode(await stacksChange("destroy", opts, deps)));
  program
    .command("outputs")
    .description("print a stack's outputs: web URL, API URL, TURN URLs, Redis endpoint, Atlas connection string")
    .addOption(envOption())
    .option("--json", "print JSON for machines", false)
    .option("--show-secrets", "print secret outputs in clear", false)
    .action(async (opts: OutputsOptions) => deps.setExitCode(await stacksOutputs(opts, deps)));
}

function fail(deps: StacksDeps, err: unknown, json: boolean): number {
  if (err instanceof StackError) {
    if (json) deps.stdout.write(JSON.stringify({ ok: false, error: { code: err.code, message: err.message } }) + "\n");
    deps.stderr.write(`vchat: ${err.message}\n`);
    return err.exitCode;
  }
  throw err;
}

/** `vchat preview`: offline on mocks, or a real preview through the engine. */
export async function stacksPreview(opts: PreviewOptions, deps: StacksDeps = defaultStacksDeps): Promise<number> {
  if (opts.fleet !== undefined && !opts.offline) throw new UsageError("--fleet plans offline only: add --offline (`vchat bots --fleet` brings a fleet up)");
  if (opts.offline) return previewOffline(opts, deps);
  return stacksChange("preview", { env: opts.env, yes: true, json: opts.json }, deps);
}

async function previewOffline(opts: PreviewOptions, deps: StacksDeps): Promise<number> {
  const [{ planOffline }, { keySettings }, { renderToString, PlanView }] = await Promise.all([
    import("../../stacks/offline.ts"),
    import("../../stacks/summary.ts"),
    ui(),
  ]);
  const plan = opts.fleet === undefined ? await planOffline(opts.env) : await fleetPlan(opts.fleet, opts.pairs ?? 1000);
  const resources = plan.resources.map((r) => ({
    name: r.name,
    type: r.type,
    parent: r.parent,
    component: r.component,
    settings: keySettings(r),
    props: r.props,
  }));
  if (opts.json) {
    deps.stdout.write(
      JSON.stringify(
        {
          ok: plan.violations.length === 0,
          env: plan.env,
          offline: true,
          ...("size" in plan ? { fleet: plan.size } : {}),
          resources,
          outputs: plan.outputs,
          violations: plan.violations,
          notes: plan.notes,
        },
        null,
        2,
      ) + "\n",
    );
  } else {
    deps.stdout.write(
      renderToString(h(PlanView, { env: plan.env, resources, outputs: plan.outputs, violations: plan.violations }), { columns: deps.stdout.columns ?? 120 }) +
        "\n",
    );
    for (const note of plan.notes) deps.stdout.write(`note: ${note}\n`);
  }
  return plan.violations.length === 0 ? exitCodes.ok : exitCodes.failed;
}

/** The fleet's offline plan in the environment plan's shape; its title says the size. */
async function fleetPlan(workers: number, calls: number) {
  const [{ planFleetOffline }, { ConfigError }] = await Promise.all([import("../../stacks/offline.ts"), import("../../stacks/config.ts")]);
  try {
    const plan = await planFleetOffline({ calls, workers, media: "synthetic" });
    const { cpu, memory, callsPerWorker } = plan.size;
    return { ...plan, env: `fleet (${workers} workers × ${cpu / 1024} vCPU / ${memory} MiB, ${callsPerWorker} calls each)` };
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/** Folds engine events into the rows of the progress tree. Pure. */
export function progressReducer(rows: ProgressRow[], ev: StackEvent, starts: Map<string, number>): ProgressRow[] {
  if (ev.kind === "resource-start") {
    if (ev.type === "pulumi:pulumi:Stack") return rows;
    starts.set(ev.urn, ev.at);
    const parent = ev.parentUrn ? rows.find((r) => r.urn === ev.parentUrn) : undefined;
    const row: ProgressRow = {
      urn: ev.urn,
      name: ev.name || urnName(ev.urn),
      type: ev.type,
      depth: parent ? parent.depth + 1 : 0,
      op: ev.op,
      status: "running",
    };
    const i = rows.findIndex((r) => r.urn === ev.urn);
    if (i >= 0) return rows.map((r, j) => (j === i ? row : r));
    // Children go under their parent's subtree, in arrival order.
    if (parent) {
      let at = rows.indexOf(parent) + 1;
      while (at < rows.length && rows[at]!.depth > parent.depth) at++;
      return [...rows.slice(0, at), row, ...rows.slice(at)];
    }
    return [...rows, row];
  }
  if (ev.kind === "resource-done" || ev.kind === "resource-failed") {
    const start = starts.get(ev.urn);
    return rows.map((r) =>
      r.urn === ev.urn
        ? { ...r, status: ev.kind === "resource-done" ? "done" : "failed", durationMs: start !== undefined ? Math.max(0, ev.at - start) : undefined }
        : r,
    );
  }
  return rows;
}

const verb = { preview: "preview", up: "up", destroy: "down" } as const;

/** `vchat up`, `vchat down` and the online `vchat preview`. */
export async function stacksChange(action: StackAction, opts: ChangeOptions, deps: StacksDeps = defaultStacksDeps): Promise<number> {
  try {
    checkPrerequisites(action, deps.probe());
  } catch (err) {
    return fail(deps, err, opts.json);
  }
  if (action === "destroy" && opts.env === "prod" && !opts.destroyProd) {
    return fail(
      deps,
      new StackError(
        "CONFIRMATION_REQUIRED",
        "vchat down --env prod also needs --destroy-prod (nothing was changed); its protected data (Atlas, Redis, the web bucket, images, secrets) stays either way",
        exitCodes.usage,
      ),
      opts.json,
    );
  }
  const interactive = !!deps.stdout.isTTY && !opts.json;
  if (action !== "preview" && !opts.yes && !interactive) {
    return fail(
      deps,
      new StackError(
        "OPERATION_FAILED",
        `vchat ${verb[action]} changes real cloud resources: pass --yes to confirm when not on a terminal (nothing was changed)`,
        exitCodes.usage,
      ),
      opts.json,
    );
  }
  const engine = deps.engine();
  const { formatChanges } = await ui();

  // `down` always shows what a destroy deletes and what it keeps before anything goes.
  if (action === "destroy") {
    const planned = await runWithProgress("destroy", opts, engine, deps, true);
    if (typeof planned === "number") return planned;
    const { goes = [], stays = [] } = planned.result;
    if (!opts.json) {
      deps.stdout.write(`goes (${goes.length}): ${goes.join(", ") || "nothing"}\nstays (${stays.length}, protected): ${stays.join(", ") || "nothing"}\n`);
    }
    if (!opts.yes && !(await deps.confirm(`Destroy ${goes.length} resources of ${opts.env}, keeping ${stays.length}?`))) {
      deps.stdout.write("nothing changed\n");
      return exitCodes.ok;
    }
  }
  // `up` on a terminal: preview, ask, then apply exactly the plan that was shown.
  let planDir: string | undefined;
  if (action === "up" && !opts.yes) {
    planDir = mkdtempSync(join(tmpdir(), "vchat-plan-"));
  }
  try {
    const plan = planDir ? join(planDir, `${opts.env}.plan.json`) : undefined;
    if (plan) {
      const planned = await runWithProgress("preview", opts, engine, deps, false, plan);
      if (typeof planned === "number") return planned;
      if (!(await deps.confirm(`Apply ${formatChanges(planned.result.changes)} on ${opts.env}?`))) {
        deps.stdout.write("nothing changed\n");
        return exitCodes.ok;
      }
    }
    return await finish(action, opts, engine, deps, plan);
  } finally {
    if (planDir) rmSync(planDir, { recursive: true, force: true });
  }
}

async function finish(action: StackAction, opts: ChangeOptions, engine: StackEngine, deps: StacksDeps, plan: string | undefined): Promise<number> {
  const { renderToString, OutputsView } = await ui();
  const done = await runWithProgress(action, opts, engine, deps, false, plan);
  if (typeof done === "number") return done;
  const { result, events } = done;
  // The new environment becomes a saved target: `vchat bots --context aws-dev`, `vchat doctor --context aws-dev`.
  const apiUrl = result.outputs?.apiUrl?.value;
  let context: string | undefined;
  if (action === "up" && typeof apiUrl === "string") {
    context = `aws-${opts.env}`;
    const file = deps.saveContext(context, { url: apiUrl });
    if (!opts.json) deps.stderr.write(`saved as context ${context} in ${file} (vchat context use ${context})\n`);
  }
  if (opts.json) {
    deps.stdout.write(
      JSON.stringify(
        {
          ok: true,
          env: opts.env,
          action: verb[action],
          changes: result.changes,
          context,
          outputs: result.outputs ? Object.fromEntries(Object.entries(result.outputs).map(([k, o]) => [k, o.value])) : undefined,
          events,
        },
        null,
        2,
      ) + "\n",
    );
  } else if (result.outputs) {
    deps.stdout.write(renderToString(h(OutputsView, { env: opts.env, outputs: result.outputs }), { columns: deps.stdout.columns ?? 120 }) + "\n");
  }
  return exitCodes.ok;
}

/** Runs one engine action, rendering the progress tree live on a terminal. */
async function runWithProgress(
  action: StackAction,
  opts: ChangeOptions,
  engine: StackEngine,
  deps: StacksDeps,
  previewOfDestroy: boolean,
  plan?: string,
): Promise<{ result: ActionResult; events: StackEvent[] } | number> {
  const { render, ProgressView, formatChanges } = await ui();
  const title = previewOfDestroy ? `vchat down --env ${opts.env}: planned deletions` : `vchat ${verb[action]} --env ${opts.env}`;
  const starts = new Map<string, number>();
  const events: StackEvent[] = [];
  const state: ProgressViewProps = { title, rows: [], messages: [] };
  const live =
    deps.stdout.isTTY && !opts.json
      ? render(h(ProgressView, state), { stdout: deps.stdout as NodeJS.WriteStream, patchConsole: false, exitOnCtrlC: false })
      : undefined;
  let pending: NodeJS.Timeout | undefined;
  const redraw = () => {
    if (!live || pending) return;
    // At most ten frames a second: big stacks emit hundreds of events.
    pending = setTimeout(() => {
      pending = undefined;
      live.rerender(h(ProgressView, { ...state }));
    }, 100);
  };
  const onEvent = (ev: StackEvent) => {
    events.push(ev);
    state.rows = progressReducer(state.rows, ev, starts);
    if (ev.kind === "diagnostic" && ev.severity !== "info") state.messages = [...state.messages, { severity: ev.severity, text: ev.message }];
    if (ev.kind === "policy")
      state.messages = [...state.messages, { severity: ev.level === "mandatory" ? "error" : "warning", text: `policy ${ev.policy}: ${ev.message}` }];
    if (ev.kind === "summary") state.summary = { changes: ev.changes, durationSeconds: ev.durationSeconds };
    if (!live && !opts.json && (ev.kind === "resource-done" || ev.kind === "resource-failed")) {
      const row = state.rows.find((r) => r.urn === ev.urn);
      if (row)
        deps.stdout.write(
          `${ev.kind === "resource-done" ? "ok  " : "FAIL"} ${row.op} ${row.name} (${row.type.split(":").pop()})${row.durationMs !== undefined ? ` ${row.durationMs}ms` : ""}\n`,
        );
    }
    redraw();
  };
  const stop = deps.interrupt();
  const onAbort = () => {
    state.cancelling = true;
    redraw();
  };
  stop.signal.addEventListener("abort", onAbort);
  try {
    const o = { onEvent, signal: stop.signal };
    const result = previewOfDestroy
      ? await engine.previewDestroy(opts.env, o)
      : action === "preview"
        ? await engine.preview(opts.env, { ...o, ...(plan ? { savePlanTo: plan } : {}) })
        : action === "up"
          ? await engine.up(opts.env, { ...o, ...(plan ? { plan } : {}) })
          : await engine.destroy(opts.env, o);
    state.summary ??= { changes: result.changes };
    return { result, events };
  } catch (err) {
    return fail(deps, err, opts.json);
  } finally {
    stop.signal.removeEventListener("abort", onAbort);
    stop.dispose();
    if (pending) clearTimeout(pending);
    pending = undefined;
    if (live) {
      live.rerender(h(ProgressView, { ...state }));
      live.unmount();
    } else if (!opts.json && state.summary) {
      deps.stdout.write(`changes: ${formatChanges(state.summary.changes)}\n`);
    }
  }
}

/** `vchat outputs`. */
export async function stacksOutputs(opts: OutputsOptions, deps: StacksDeps = defaultStacksDeps): Promise<number> {
  try {
    checkPrerequisites("outputs", deps.probe());
    const outputs = await deps.engine().outputs(opts.env, { showSecrets: opts.showSecrets });
    const { renderToString, OutputsView } = await ui();
    if (opts.json) {
      deps.stdout.write(
        JSON.stringify(
          {
            ok: true,
            env: opts.env,
            outputs: Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.value])),
            secrets: Object.keys(outputs).filter((k) => outputs[k]!.secret),
          },
          null,
          2,
        ) + "\n",
      );
    } else {
      deps.stdout.write(renderToString(h(OutputsView, { env: opts.env, outputs }), { columns: deps.stdout.columns ?? 120 }) + "\n");
    }
    return exitCodes.ok;
  } catch (err) {
    return fail(deps, err, opts.json);
  }
}
