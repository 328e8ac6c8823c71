/**
 * `vchat bots --fleet W --stack NAME`: a bots fleet's lifecycle around one coordinator run.
 * The fleet comes up through the Automation API (`stacks/fleet-engine.ts`), the coordinator runs
 * against the fleet's Redis, and the fleet goes down again unless `--keep`: after a failure or
 * a Ctrl-C anywhere past the start of `up` too, so no run leaves workers billing by the second.
 */
import { checkPrerequisites, StackError, systemProbe, type ActionResult, type PrerequisiteProbe, type StackEvent } from "../stacks/engine.ts";
import { localFleetEngine, type FleetEngine } from "../stacks/fleet-engine.ts";
import type { FleetSize } from "../stacks/fleet-size.ts";
import { CliError, exitCodes } from "./exit.ts";
import { interruption, type Interruption } from "./signals.ts";

/**
 * The coordinator's run against the fleet (the run of `vchat bots --workers W --coordinator
 * URL`): it waits for the W workers, runs the plan, prints its report and returns the exit
 * code; Ctrl-C reaches it through `stop`, after which it writes the partial report.
 */
export type CoordinatorRun = (args: { coordinatorUrl: string; workers: number; stop: Interruption }) => Promise<number>;

export interface FleetRunOptions {
  engine: FleetEngine;
  stack: string;
  size: FleetSize;
  keep: boolean;
  /** Ctrl-C: cancels `up` or stops the coordinator; the teardown still runs. */
  stop: Interruption;
  coordinator: CoordinatorRun;
  log: (line: string) => void;
}

export type Teardown = { kept: true } | { kept: false; result: ActionResult } | { kept: false; error: StackError };

/** How to remove a fleet by hand, for every message that leaves one behind. */
export const fleetDownHint = (stack: string) => `pulumi -C stacks/fleet destroy --stack ${stack}`;

/**
 * Up → coordinator → down. Resolves with the coordinator's exit code and what the teardown did;
 * when `up` or the coordinator failed, the fleet is torn down first and the failure is thrown.
 */
export async function runFleet(o: FleetRunOptions): Promise<{ exitCode: number; teardown: Teardown }> {
  const onEvent = (ev: StackEvent) => {
    if (ev.kind === "resource-done" || ev.kind === "resource-failed")
      o.log(`${ev.kind === "resource-done" ? "ok  " : "FAIL"} ${ev.op} ${ev.urn.split("::").pop()}`);
    if (ev.kind === "policy") o.log(`policy ${ev.policy}: ${ev.message}`);
    if (ev.kind === "diagnostic" && ev.severity === "error") o.log(ev.message);
  };
  let exitCode: number | undefined;
  let failure: unknown;
  try {
    o.log(`fleet ${o.stack}: ${o.size.workers} workers of ${o.size.cpu / 1024} vCPU / ${o.size.memory} MiB coming up`);
    const up = await o.engine.up(o.stack, o.size, { onEvent, signal: o.stop.signal });
    o.log(`fleet ${o.stack}: ${o.size.workers} workers running; coordinating the run`);
    exitCode = await o.coordinator({ coordinatorUrl: up.coordinatorUrl, workers: o.size.workers, stop: o.stop });
  } catch (err) {
    failure = err;
  }
  const teardown = await tearDown(o, onEvent);
  if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
  return { exitCode: exitCode!, teardown };
}

async function tearDown(o: FleetRunOptions, onEvent: (ev: StackEvent) => void): Promise<Teardown> {
  if (o.keep) {
    o.log(`fleet ${o.stack} kept (--keep): remove it with ${fleetDownHint(o.stack)}`);
    return { kept: true };
  }
  // Not on the Ctrl-C signal, which has fired already when the run was interrupted: a second
  // Ctrl-C ends the process (signals.ts) and leaves the fleet to the hint below.
  o.log(`fleet ${o.stack}: tearing down (a second Ctrl-C leaves it up: ${fleetDownHint(o.stack)})`);
  try {
    return { kept: false, result: await o.engine.destroy(o.stack, { onEvent }) };
  } catch (err) {
    const error = err instanceof StackError ? err : new StackError("OPERATION_FAILED", String(err), 1);
    o.log(`fleet ${o.stack}: teardown failed (${error.message}); remove it with ${fleetDownHint(o.stack)}`);
    return { kept: false, error };
  }
}

export interface FleetDeps {
  engine: () => FleetEngine;
  probe: () => PrerequisiteProbe;
  interrupt: () => Interruption;
}

export const defaultFleetDeps: FleetDeps = { engine: localFleetEngine, probe: () => systemProbe(), interrupt: () => interruption() };

/**
 * `vchat bots --fleet`: checks what it can before a resource is made (the Pulumi CLI, a backend,
 * AWS credentials), then runs the lifecycle around `coordinator`.
 */
export async function botsFleet(
  o: { stack: string; keep: boolean; size: FleetSize; coordinator: CoordinatorRun },
  io: { stderr: { write(s: string): unknown } },
  deps: FleetDeps = defaultFleetDeps,
): Promise<number> {
  try {
    checkPrerequisites("up", deps.probe(), { atlas: false });
  } catch (err) {
    if (err instanceof StackError) throw new CliError(err.code, err.message, err.exitCode);
    throw err;
  }
  const stop = deps.interrupt();
  try {
    const { exitCode, teardown } = await runFleet({
      engine: deps.engine(),
      stack: o.stack,
      size: o.size,
      keep: o.keep,
      stop,
      coordinator: o.coordinator,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    if ("error" in teardown) return exitCodes.failed;
    return stop.exitCode() ?? exitCode;
  } catch (err) {
    if (err instanceof StackError) throw new CliError(err.code, err.message, stop.signal.aborted ? exitCodes.interrupted : err.exitCode);
    throw err;
  } finally {
    stop.dispose();
  }
}
