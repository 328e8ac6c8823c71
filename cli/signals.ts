/**
 * Ctrl-C for every long-running command: the first SIGINT or SIGTERM aborts the work (the command
 * then stops cleanly and keeps its partial report), a second one forces the exit.
 *
 * The handlers stay registered until `dispose()`. A `process.once` handler removes itself before
 * it runs; ink's `signal-exit` then sees only its own listeners and re-raises the signal, which
 * kills the process before any report is written (issue #18).
 */
export interface Interruption {
  /** Aborts on the first signal; `signal.reason` is the signal's name. */
  signal: AbortSignal;
  /** The exit code for an interrupted command: 128 + the signal's number (130 for SIGINT). */
  exitCode(): number | undefined;
  dispose(): void;
}

const signalNumbers = { SIGINT: 2, SIGTERM: 15 } as const;

export function interruption(io: { stderr: { write(s: string): unknown } } = process): Interruption {
  const ctl = new AbortController();
  const onSignal = (sig: keyof typeof signalNumbers) => {
    if (!ctl.signal.aborted) return ctl.abort(sig);
    io.stderr.write(`vchat: ${sig} again: stopping now, without cleaning up\n`);
    process.exit(128 + signalNumbers[sig]);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: ctl.signal,
    exitCode: () => (ctl.signal.aborted ? 128 + signalNumbers[ctl.signal.reason as keyof typeof signalNumbers] : undefined),
    dispose() {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

/** For servers (`dev`, `serve`): resolves on the first SIGINT or SIGTERM; a second one forces the exit. */
export function untilSignal(): Promise<NodeJS.Signals> {
  const { signal } = interruption();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(signal.reason as NodeJS.Signals), { once: true }));
}
