// One `vchat serve` node of bench/soak in its own process, on the given Redis and a SQLite file
// the nodes share (as production nodes share MongoDB: an account made on one node is known to
// all). Prints {url} once listening; stops on SIGTERM.
//
//   node bench/soak/node.ts REDIS_URL DB_FILE PORT   (the JWT secret in VCHAT_JWT_SECRET)
import { serveNode } from "../../server/serve.ts";

const [redisUrl, db, port] = process.argv.slice(2);
if (!redisUrl || !db || !port) {
  process.stderr.write("usage: node.ts REDIS_URL DB_FILE PORT\n");
  process.exit(2);
}
const node = await serveNode({
  host: "127.0.0.1",
  port: Number(port),
  db,
  redis: redisUrl,
  quiet: true,
  webDir: null,
  // Every simulated user signs up from 127.0.0.1: lift the per-address sign-up limit only.
  config: { tuning: { signupsPerMinute: 1_000_000 } },
});
process.stdout.write(JSON.stringify({ url: node.url }) + "\n");
process.once("SIGTERM", async () => {
  await node.stop();
  process.exit(0);
});
