#!/usr/bin/env node
// The `vchat` binary (package.json `bin`). In a checkout it runs the TypeScript sources: Node
// strips their types, so there is no build step and nothing stale (`npx vchat dev` right after
// scripts/bootstrap.sh). Installed from the npm package (under node_modules, where Node strips
// no types) it runs the JavaScript that `npm pack` compiled into dist/.
import { existsSync } from "node:fs";
import { URL } from "node:url";

const sources = new URL("../cli/vchat.ts", import.meta.url);
const installed = import.meta.url.includes("/node_modules/");
await import(!installed && existsSync(sources) ? sources.href : new URL("../dist/cli/vchat.js", import.meta.url).href);
