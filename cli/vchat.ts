#!/usr/bin/env node
// The `vchat` binary. Node 24 runs this TypeScript directly (type stripping): no build step.
import { run } from "./program.ts";

// Output piped into `head` and the like: a closed pipe ends the program quietly.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await run(process.argv);
// Interrupted: the report is out; work the command abandoned (sockets, timers) must not keep it alive.
if (process.exitCode >= 128) process.exit(process.exitCode);
