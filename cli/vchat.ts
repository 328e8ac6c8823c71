#!/usr/bin/env node
// The `vchat` binary. Node 24 runs this TypeScript directly (type stripping): no build step.
import { run } from "./program.ts";

process.exitCode = await run(process.argv);
