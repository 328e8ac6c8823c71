/** Resolves on the first SIGINT or SIGTERM: long-running commands then shut down gracefully. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const done = (sig: NodeJS.Signals) => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve(sig);
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
  });
}
