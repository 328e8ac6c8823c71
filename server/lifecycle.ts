import type { Logger } from "./log.ts";

/** A step of a stop that failed, and why. */
export interface StopFailure {
  step: string;
  error: string;
}

/**
 * What a start opened, to be closed in reverse order by one awaited stop that goes on past a
 * failing step and says which failed (LiveKit's `server.go` shape).
 *
 * @example
 * const opened = resources(log);
 * const store = await openSqliteStore(db);
 * opened.add("store", () => store.close());
 * // ...
 * const failed = await opened.close(); // [] when everything closed
 */
export function resources(log?: Logger) {
  const steps: { name: string; close: () => unknown }[] = [];
  let closing: Promise<StopFailure[]> | undefined;
  return {
    add(name: string, close: () => unknown): void {
      steps.push({ name, close });
    },
    /** Closes everything added, last first, once; later calls get the same answer. */
    close(): Promise<StopFailure[]> {
      closing ??= (async () => {
        const failed: StopFailure[] = [];
        for (const { name, close } of steps.reverse()) {
          try {
            await close();
          } catch (err) {
            const error = err instanceof Error ? err.message : String(err);
            failed.push({ step: name, error });
            log?.warn({ step: name, err: error }, "a step of the stop failed");
          }
        }
        return failed;
      })();
      return closing;
    },
  };
}
