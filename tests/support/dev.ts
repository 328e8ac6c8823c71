import { startDevServer, type DevServer, type DevServerOptions } from "../../server/dev.ts";

/** `vchat dev` for a test: a free port, an in-memory store, no coturn, no logs, no web client; `opts` adds or overrides. */
export function testDev(opts: DevServerOptions = {}): Promise<DevServer> {
  return startDevServer({ port: 0, db: ":memory:", turn: false, quiet: true, webDir: null, ...opts });
}
