/**
 * The small interface `vchat bots --fleet` drives a fleet stack through, so its lifecycle can be
 * tested against a fake. `localFleetEngine()` implements it on Pulumi's Automation API: the
 * `vchat-fleet` project in stacks/fleet/, the program inline and sized by the run, the vchat
 * policy pack applied.
 */
import { join } from "node:path";
import type { EnvName } from "./config.ts";
import { mapAutomationError, policyPackDir, stacksDir, StackError, toStackEvent, type ActionOptions, type ActionResult, type StackOutput } from "./engine.ts";
import type { FleetSize } from "./fleet-size.ts";

export const fleetDir = join(stacksDir, "fleet");

export interface FleetUp extends ActionResult {
  /** The coordination Redis URL, in clear: the coordinator connects to it. */
  coordinatorUrl: string;
  /** The stack outputs, secrets masked. */
  outputs: Record<string, StackOutput>;
}

export interface FleetEngine {
  /** Creates or resizes the fleet; resolves once every worker task runs. */
  up(stack: string, size: FleetSize, opts?: ActionOptions): Promise<FleetUp>;
  /** Deletes the whole fleet. */
  destroy(stack: string, opts?: ActionOptions): Promise<ActionResult>;
}

/** Automation API errors in the fleet's words (the environment's messages name `vchat up --env`). */
function fleetError(err: unknown, stack: string, action: "up" | "destroy", signal?: AbortSignal): StackError {
  const e = mapAutomationError(err, stack as EnvName, action, signal);
  const down = `pulumi -C stacks/fleet destroy --stack ${stack}`;
  if (e.code === "CANCELLED") return new StackError(e.code, `fleet ${action} of ${stack} cancelled; what was created stays until \`${down}\``, e.exitCode);
  if (e.code === "STACK_NOT_FOUND")
    return new StackError(
      e.code,
      `fleet stack ${stack} does not exist: create it with \`pulumi -C stacks/fleet stack init ${stack}\` (docs/fleet.md)`,
      e.exitCode,
    );
  if (e.code === "STACK_BUSY")
    return new StackError(
      e.code,
      `another update is running on fleet stack ${stack}; if it crashed: pulumi -C stacks/fleet cancel --stack ${stack}`,
      e.exitCode,
    );
  return e;
}

/**
 * The Automation API implementation (needs the pulumi CLI, a backend and AWS credentials).
 * `pulumiRoot` picks the installation in `<root>/bin/pulumi` instead of the one on PATH.
 */
export function localFleetEngine(opts: { pulumiRoot?: string } = {}): FleetEngine {
  async function open(stackName: string, program: () => Promise<Record<string, unknown>>) {
    const { LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation/index.js");
    const { fleetProject } = await import("./fleet.ts");
    const wsOpts = { workDir: fleetDir, ...(opts.pulumiRoot ? { pulumiCommand: await PulumiCommand.get({ root: opts.pulumiRoot }) } : {}) };
    return LocalWorkspace.selectStack({ stackName, projectName: fleetProject, program }, wsOpts);
  }
  const relay = (o?: ActionOptions) => (e: unknown) => {
    const ev = toStackEvent(e as Parameters<typeof toStackEvent>[0]);
    if (ev) o?.onEvent?.(ev);
  };
  const changesOf = (m: Record<string, number | undefined> | undefined) =>
    Object.fromEntries(Object.entries(m ?? {}).filter(([, v]) => v)) as Record<string, number>;

  return {
    async up(stackName, size, o) {
      try {
        const { ConfigError } = await import("./config.ts");
        const { fleetConfigKeys, fleetProgram, resolveFleetConfig } = await import("./fleet.ts");
        let cfg: ReturnType<typeof resolveFleetConfig> | undefined;
        const stack = await open(stackName, async () => ({ ...fleetProgram(cfg!) }));
        // The settings are checked before the engine starts: a missing subnet stops here.
        const all = await stack.getAllConfig();
        const overrides = Object.fromEntries(fleetConfigKeys.flatMap((k) => (all[`vchat-fleet:${k}`] ? [[k, all[`vchat-fleet:${k}`]!.value]] : [])));
        try {
          cfg = resolveFleetConfig(stackName, overrides, size);
        } catch (err) {
          if (err instanceof ConfigError) throw new StackError("STACK_CONFIG_INVALID", err.message, 2);
          throw err;
        }
        const r = await stack.up({ onEvent: relay(o), signal: o?.signal, policyPacks: [policyPackDir] });
        const url = r.outputs.coordinatorUrl?.value;
        if (typeof url !== "string") throw new StackError("OPERATION_FAILED", `fleet ${stackName} came up without a coordinatorUrl output`, 1);
        const outputs = Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, { value: v.secret ? "[secret]" : v.value, secret: v.secret }]));
        return { changes: changesOf(r.summary.resourceChanges), outputs, coordinatorUrl: url };
      } catch (err) {
        throw fleetError(err, stackName, "up", o?.signal);
      }
    },
    async destroy(stackName, o) {
      try {
        const stack = await open(stackName, async () => ({}));
        const r = await stack.destroy({ onEvent: relay(o), signal: o?.signal });
        return { changes: changesOf(r.summary.resourceChanges) };
      } catch (err) {
        throw fleetError(err, stackName, "destroy", o?.signal);
      }
    },
  };
}
