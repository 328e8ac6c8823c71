/**
 * `vchat doctor`: diagnoses TURN and NAT reachability of a deployment (`--url`) or of bare TURN
 * servers (`--turn`). The command parses options and calls `runDoctor`; the view renders.
 * Exit codes: 0 everything calls need works, 1 something is broken, 2 usage errors.
 */
import type { Command } from "commander";
import React from "react";
import type { DoctorOptions } from "../../doctor/run.ts";
import type { CheckResult, DoctorReport } from "../../doctor/report.ts";
import { parseDuration, UsageError } from "../exit.ts";
import { interruption, type Interruption } from "../signals.ts";

const h = React.createElement;

/** The doctor, ink and the view load only when the command runs: together they take ~1.5 s to import. */
async function load() {
  const [ink, run, view, summary] = await Promise.all([
    import("ink"),
    import("../../doctor/run.ts"),
    import("../ui/doctor.ts"),
    import("../../doctor/summary.ts"),
  ]);
  return {
    render: ink.render,
    renderToString: ink.renderToString,
    runDoctor: run.runDoctor,
    DoctorOptionError: run.DoctorOptionError,
    DoctorView: view.DoctorView,
    summarize: summary.summarize,
  };
}

export interface DoctorDeps {
  stdout: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number };
  setExitCode: (code: number) => void;
  /** Live redrawing on a terminal; by default ink decides (off in CI, where only the final frame is written). */
  interactive?: boolean;
  /** Where the report goes when a caller wants it (tests). */
  onReport?: (report: DoctorReport) => void;
}

export const defaultDoctorDeps: DoctorDeps = {
  stdout: process.stdout,
  setExitCode(code) {
    process.exitCode = code;
  },
};

interface DoctorFlags {
  url?: string;
  turn?: string[];
  secret?: string;
  username?: string;
  credential?: string;
  timeout?: number;
  call: boolean;
  json?: boolean;
}

export function registerDoctor(program: Command, deps: DoctorDeps = defaultDoctorDeps): void {
  program
    .command("doctor")
    .description("diagnose API, STUN, TURN per transport, relay, NAT behaviour and TURN security exposure of a deployment")
    .option("--url <url>", "the deployment's base URL; TURN URLs and credentials come from its /api/ice")
    .option("--turn <url>", "a bare STUN/TURN URL, e.g. turn:turn.example.com:3478?transport=udp (repeatable)", (v: string, acc: string[] | undefined) => [
      ...(acc ?? []),
      v,
    ])
    .option("--secret <secret>", "TURN REST shared secret (coturn static-auth-secret) to mint credentials for --turn; or set VCHAT_TURN_SECRET")
    .option("--username <name>", "TURN user name for --turn")
    .option("--credential <password>", "TURN password for --turn")
    .option("--timeout <duration>", "per network step, e.g. 500ms (default: 3s)", parseDuration)
    .option("--no-call", "skip the relay-only werift call")
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      "\nExit codes: 0 everything calls need works, 1 something is broken, 2 usage error.\n" +
        "Examples:\n  vchat doctor --url https://chat.example.com\n  vchat doctor --turn turn:turn.example.com:3478?transport=udp --turn turns:turn.example.com:443 --secret S",
    )
    .action(async (flags: DoctorFlags) => {
      if (flags.timeout !== undefined && flags.timeout < 100) throw new UsageError(`--timeout must be at least 100ms, got ${flags.timeout}ms`);
      if (flags.url && !flags.turn?.length && (flags.secret || flags.username || flags.credential)) {
        throw new UsageError("--secret/--username/--credential are for --turn; with --url the credentials come from the deployment's /api/ice (drop them)");
      }
      const opts: DoctorOptions = {
        url: flags.url,
        turn: flags.turn,
        // From the environment, the secret stays out of the process list.
        secret: flags.secret ?? (flags.username ? undefined : process.env.VCHAT_TURN_SECRET || undefined),
        username: flags.username,
        credential: flags.credential,
        timeoutMs: flags.timeout ?? 3000,
        call: flags.call,
      };
      const stop = interruption();
      try {
        const report = await doctorCommand(opts, !!flags.json, deps, stop);
        deps.onReport?.(report);
        deps.setExitCode(stop.exitCode() ?? report.exitCode);
      } finally {
        stop.dispose();
      }
    });
}

/**
 * Runs the doctor with the live checklist (on a terminal), a plain rendering, or JSON. Interrupted
 * (Ctrl-C), it reports the checks finished so far, the rest as they stood.
 */
export async function doctorCommand(
  opts: DoctorOptions,
  json: boolean,
  deps: DoctorDeps,
  stop?: Pick<Interruption, "signal">,
): Promise<DoctorReport & { interrupted?: boolean }> {
  const { render, renderToString, runDoctor, DoctorOptionError, DoctorView, summarize } = await load();
  const target = opts.url ?? (opts.turn ?? []).join(" ");
  const live = !json && deps.stdout.isTTY;
  // patchConsole off: nothing here logs, and test runners replace console with objects ink cannot wrap.
  const ink = live
    ? render(h(DoctorView, { target, checks: [] }), { stdout: deps.stdout as NodeJS.WriteStream, patchConsole: false, interactive: deps.interactive })
    : undefined;
  let report: DoctorReport & { interrupted?: boolean };
  const startedAt = new Date();
  let latest: CheckResult[] = [];
  const interrupted = new Promise<DoctorReport & { interrupted: true }>((resolve) => {
    const partial = () => {
      const summary = summarize(latest);
      resolve({ target, startedAt: startedAt.toISOString(), ms: Date.now() - startedAt.getTime(), checks: latest, summary, exitCode: 1, interrupted: true });
    };
    if (stop?.signal.aborted) partial();
    else stop?.signal.addEventListener("abort", partial, { once: true });
  });
  try {
    const onUpdate = (checks: CheckResult[]) => {
      latest = checks;
      ink?.rerender(h(DoctorView, { target, checks }));
    };
    report = await Promise.race([runDoctor({ ...opts, onUpdate }), interrupted]);
  } catch (err) {
    ink?.unmount();
    if (err instanceof DoctorOptionError) throw new UsageError(err.message);
    throw err;
  }
  const final = h(DoctorView, { target, checks: report.checks, summary: report.summary, ms: report.ms });
  if (report.interrupted && !json) deps.stdout.write("interrupted: the checks below are those finished so far\n");
  if (json) deps.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else if (ink) {
    ink.rerender(final);
    ink.unmount();
  } else deps.stdout.write(renderToString(final, { columns: deps.stdout.columns ?? 120 }) + "\n");
  return report;
}
