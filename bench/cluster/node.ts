// One node of bench/cluster in its own process: `single` is one node with in-process matching
// (what `vchat dev` runs), `redis <url>` a `vchat serve` node on that Redis. Prints {url} once
// listening; stops on SIGTERM.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serveNode } from "../../server/serve.ts";

const [mode, redisUrl, jwtSecret] = process.argv.slice(2);
if ((mode !== "single" && mode !== "redis") || (mode === "redis" && !redisUrl) || !jwtSecret) {
  process.stderr.write("usage: node.ts single - SECRET | node.ts redis URL SECRET\n");
  process.exit(2);
}
const dir = mkdtempSync(join(tmpdir(), "vchat-bench-cluster-"));
const node = await serveNode({
  host: "127.0.0.1",
  port: 0,
  db: join(dir, "bench.db"),
  redis: mode === "redis" ? redisUrl : undefined,
  env: { VCHAT_JWT_SECRET: jwtSecret },
  quiet: true,
  webDir: null,
  // The clients sign up from one address and send bursts of signals: lift those two limits.
  config: { tuning: { eventsPerSecond: 1000, signupsPerMinute: 1_000_000 } },
});
process.stdout.write(JSON.stringify({ url: node.url }) + "\n");
process.once("SIGTERM", async () => {
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
