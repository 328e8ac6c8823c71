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

const h = React.createElement;

/** The doctor, ink and the view load only when the command runs: together they take ~1.5 s to import. */
async function load() {
  const [ink, run, view] = await Promise.all([import("ink"), import("../../doctor/run.ts"), import("../ui/doctor.ts")]);
  return {
    render: ink.render,
    renderToString: ink.renderToString,
    runDoctor: run.runDoctor,
    DoctorOptionError: run.DoctorOptionError,
    DoctorView: view.DoctorView,
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
      const report = await doctorCommand(opts, !!flags.json, deps);
      deps.onReport?.(report);
      deps.setExitCode(report.exitCode);
    });
}

/** Runs the doctor with the live checklist (on a terminal), a plain rendering, or JSON. */
export async function doctorCommand(opts: DoctorOptions, json: boolean, deps: DoctorDeps): Promise<DoctorReport> {
  const { render, renderToString, runDoctor, DoctorOptionError, DoctorView } = await load();
  const target = opts.url ?? (opts.turn ?? []).join(" ");
  const live = !json && deps.stdout.isTTY;
  // patchConsole off: nothing here logs, and test runners replace console with objects ink cannot wrap.
  const ink = live
    ? render(h(DoctorView, { target, checks: [] }), { stdout: deps.stdout as NodeJS.WriteStream, patchConsole: false, interactive: deps.interactive })
    : undefined;
  let report: DoctorReport;
  try {
    report = await runDoctor({ ...opts, onUpdate: (checks: CheckResult[]) => ink?.rerender(h(DoctorView, { target, checks })) });
  } catch (err) {
    ink?.unmount();
    if (err instanceof DoctorOptionError) throw new UsageError(err.message);
    throw err;
  }
  const final = h(DoctorView, { target, checks: report.checks, summary: report.summary, ms: report.ms });
  if (json) deps.stdout.write(JSON.stringify(report, null, 2) + "\n");
  else if (ink) {
    ink.rerender(final);
    ink.unmount();
  } else deps.stdout.write(renderToString(final, { columns: deps.stdout.columns ?? 120 }) + "\n");
  return report;
}
