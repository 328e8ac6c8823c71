import type { Command } from "commander";
import type { RunningNode } from "../../server/serve.ts";
import { exitCodes, intOption, UsageError } from "../exit.ts";
import { untilSignal } from "../signals.ts";

export interface ServeOptions {
  host?: string;
  port?: number;
  db?: string;
  redis?: string;
  mongo?: string;
  json: boolean;
}

const environment = `
Settings from the environment (secrets only from there; a Redis or MongoDB URL holding a
password is better in VCHAT_REDIS_URL / VCHAT_MONGODB_URI than in a flag, out of process lists):
  VCHAT_JWT_SECRET     required: signs tokens; the same on every node, at least 32 characters
  VCHAT_TURN_URLS      TURN servers, comma-separated (turn:host:3478?transport=udp,...)
  VCHAT_TURN_SECRET    coturn's static-auth-secret; required with VCHAT_TURN_URLS
  VCHAT_STUN_URLS      STUN servers, comma-separated
  VCHAT_ADMIN_SECRET   turns the admin API on (vchat admin); at least 32 characters, not the JWT secret
  VCHAT_REDIS_URL      like --redis          VCHAT_MONGODB_URI   like --mongo
  VCHAT_CORS_ORIGINS   origins allowed to call the API from browsers, comma-separated
  VCHAT_TRUST_PROXY    proxies in front that append to X-Forwarded-For: 1 behind a load balancer, 2 behind CloudFront + ALB
  VCHAT_LOG_LEVEL      info, debug, ...
  VCHAT_CHAT_RETENTION_DAYS  chat kept in MongoDB (default 30)
  VCHAT_HOST, VCHAT_PORT, VCHAT_DB, VCHAT_WEB_DIR, VCHAT_REDIS_PREFIX
`;

export function registerServe(program: Command): void {
  program
    .command("serve")
    .description("run one production node; many nodes on one Redis form one service")
    .option("--host <address>", "address to listen on (default 0.0.0.0)")
    .option("--port <port>", "port to listen on (0 picks a free one; default 8080)", intOption("--port", 0, 65535))
    .option("--db <file>", "SQLite database file when there is no MongoDB (default .vchat/vchat.db)")
    .option(
      "--redis <url>",
      "Redis for matching, presence and events between nodes (redis:// or rediss:// for TLS; a standalone server or any node of a Redis Cluster)",
    )
    .option("--mongo <uri>", "MongoDB for users, calls, chat, reports and blocks (mongodb:// or mongodb+srv://)")
    .option("--json", "print one JSON start line for machines", false)
    .addHelpText("after", environment)
    .action(async (opts: ServeOptions) => {
      process.exitCode = await serve(opts);
    });
}

/** Runs one node until SIGINT or SIGTERM, then shuts down gracefully and resolves to the exit code. */
export async function serve(opts: ServeOptions, signal = untilSignal()): Promise<number> {
  const { NodeConfigError, serveNode } = await import("../../server/serve.ts");
  let node: RunningNode;
  try {
    node = await serveNode({ host: opts.host, port: opts.port, db: opts.db, redis: opts.redis, mongo: opts.mongo });
  } catch (err) {
    if (err instanceof NodeConfigError) throw new UsageError(err.message);
    throw err;
  }
  process.stdout.write(opts.json ? JSON.stringify(startLine(node)) + "\n" : banner(node));
  await signal;
  const failed = await node.stop();
  for (const f of failed) process.stderr.write(`vchat serve: stopping ${f.step} failed: ${f.error}\n`);
  if (!opts.json) process.stdout.write("vchat serve stopped\n");
  return failed.length > 0 ? exitCodes.failed : exitCodes.ok;
}

export function startLine(node: RunningNode) {
  return {
    event: "ready",
    nodeId: node.nodeId,
    url: `${node.url}/`,
    api: `${node.url}/api`,
    ws: node.url.replace(/^http/, "ws") + "/socket.io/",
    readyz: `${node.url}/readyz`,
    metrics: `${node.url}/metrics`,
    matching: node.matching,
    redis: node.redisUrl,
    redisMode: node.redisMode,
    store: node.storeKind,
    turn: node.config.turn?.urls ?? [],
    pid: process.pid,
  };
}

function banner(node: RunningNode): string {
  const s = startLine(node);
  return (
    [
      `vchat serve: node ${s.nodeId} is running`,
      `  api      ${s.api}`,
      `  socket   ${s.ws}`,
      `  readyz   ${s.readyz}`,
      `  matching ${s.matching === "redis" ? `redis ${s.redisMode === "cluster" ? "cluster " : ""}${s.redis}` : "in this process (one node only; pass --redis for many)"}`,
      `  store    ${s.store}`,
      `  turn     ${s.turn.length ? s.turn.join("  ") : "none (set VCHAT_TURN_URLS and VCHAT_TURN_SECRET)"}`,
      "Ctrl-C stops it.",
    ].join("\n") + "\n"
  );
}
