import type { Command } from "commander";
import type { DevServer } from "../../server/dev.ts";
import { exitCodes, intOption } from "../exit.ts";
import { untilSignal } from "../signals.ts";

export interface DevOptions {
  host: string;
  port: number;
  db: string;
  /** Where secrets and the local coturn's configuration are kept (must exist); default: the database's folder. */
  stateDir?: string;
  turn: boolean;
  json: boolean;
  /** Nodes over one Redis; 1 is the embedded single process. */
  nodes?: number;
  redis?: string;
  /** haproxy with CloudFront's routing in front of two nodes, coturn and the bucket. */
  prodShape?: boolean;
}

export function registerDev(program: Command): void {
  program
    .command("dev")
    .description("run the whole service on this machine: API, signaling, web client, local coturn when installed")
    .option("--host <address>", "address to listen on; the local coturn listens and its TURN URLs point there too", "127.0.0.1")
    .option("--port <port>", "port to listen on (0 picks a free one)", intOption("--port", 0, 65535), 8080)
    .option("--db <file>", "SQLite database file, or :memory:", ".vchat/vchat.db")
    .option("--state-dir <folder>", "an existing folder for the secrets and the local coturn's configuration (default: the database's folder)")
    .option("--no-turn", "do not start a local coturn")
    .option("--json", "print one JSON start line for machines", false)
    .option("--nodes <n>", "run N nodes on consecutive ports over one Redis, as vchat serve does", intOption("--nodes", 1, 16), 1)
    .option("--redis <url>", "with --nodes: the Redis to use (default: a redis-server started on loopback)")
    .option("--prod-shape", "rehearse production: haproxy on --port routing as CloudFront, 2 nodes on a local Redis, coturn, the web build served as the bucket", false)
    .action(async (opts: DevOptions) => {
      process.exitCode = opts.prodShape ? await prodShape(opts) : await dev(opts);
    });
}

/** Runs until SIGINT or SIGTERM, then shuts down gracefully and resolves to the exit code. */
export async function dev(opts: DevOptions, signal = untilSignal()): Promise<number> {
  // The server loads only when the command runs, so `vchat --help` and other commands start fast.
  const { startDevServer } = await import("../../server/dev.ts");
  const server = await startDevServer({
    nodes: opts.nodes ?? 1,
    host: opts.host,
    port: opts.port,
    db: opts.db,
    stateDir: opts.stateDir,
    redis: opts.redis,
    turn: opts.turn ? "auto" : false,
    // Several nodes log a lot; one JSON start line is what machines want.
    quiet: ((opts.nodes ?? 1) > 1 || opts.redis !== undefined) && opts.json,
  });
  const line = server.redis ? clusterStartLine(server, opts) : startLine(server, opts);
  process.stdout.write(opts.json ? JSON.stringify(line) + "\n" : server.redis ? clusterBanner(server, opts) : banner(server, opts));
  await signal;
  const failed = await server.stop();
  for (const f of failed) process.stderr.write(`vchat dev: stopping ${f.step} failed: ${f.error}\n`);
  if (!opts.json) process.stdout.write("vchat dev stopped\n");
  return failed.length > 0 ? exitCodes.failed : exitCodes.ok;
}

/** `vchat dev --prod-shape`: runs until SIGINT or SIGTERM; the public URL is haproxy's. */
export async function prodShape(opts: DevOptions, signal = untilSignal()): Promise<number> {
  const { startRehearsal } = await import("../../server/rehearsal.ts");
  const { builtWebDir } = await import("../../server/serve.ts");
  const webDir = builtWebDir();
  if (!webDir) {
    process.stderr.write("vchat dev --prod-shape: no web client build to serve: run npm run build:web first\n");
    return exitCodes.failed;
  }
  const shape = await startRehearsal({ webDir, port: opts.port, db: opts.db, stateDir: opts.stateDir, quiet: opts.json });
  const line = { event: "ready", url: `${shape.url}/`, nodes: shape.cluster.urls.map((u) => `${u}/`), turn: shape.cluster.turn?.urls ?? [], redis: shape.cluster.redis?.url ?? null };
  process.stdout.write(
    opts.json
      ? JSON.stringify(line) + "\n"
      : [
          "vchat dev --prod-shape is running",
          `  url      ${line.url}  (haproxy: /api/*, /socket.io/*, /healthz to the nodes in turn, the rest to the bucket)`,
          ...line.nodes.map((u, i) => `  node ${i + 1}   ${u}`),
          `  turn     ${line.turn.join("  ")}`,
          `  redis    ${line.redis}`,
          `Try: vchat doctor --url ${shape.url}   vchat bots --url ${shape.url} --relay only`,
          "Ctrl-C stops it.",
        ].join("\n") + "\n",
  );
  await signal;
  await shape.stop();
  if (!opts.json) process.stdout.write("vchat dev stopped\n");
  return exitCodes.ok;
}

export function startLine(server: DevServer, opts: Pick<DevOptions, "db">) {
  return {
    event: "ready",
    url: `${server.url}/`,
    api: `${server.url}/api`,
    ws: server.url.replace(/^http/, "ws") + "/socket.io/",
    metrics: `${server.url}/metrics`,
    turn: server.turn?.urls ?? [],
    db: opts.db,
    web: server.config.webDir !== null,
  };
}

export function clusterStartLine(cluster: DevServer, opts: Pick<DevOptions, "db">) {
  return {
    event: "ready",
    nodes: cluster.nodes.map((n) => ({ nodeId: n.nodeId, url: `${n.url}/`, ws: n.url.replace(/^http/, "ws") + "/socket.io/" })),
    urls: cluster.urls.map((u) => `${u}/`),
    redis: cluster.redis?.url ?? null,
    redisSpawned: cluster.redis?.spawned ?? false,
    turn: cluster.turn?.urls ?? [],
    db: opts.db,
    web: cluster.config.webDir !== null,
  };
}

const turnLine = (urls: string[], opts: DevOptions) =>
  `  turn     ${urls.length ? urls.join("  ") : opts.turn ? "none (install coturn for relayed calls)" : "off (--no-turn)"}`;

function banner(server: DevServer, opts: DevOptions): string {
  const s = startLine(server, opts);
  const lines = [
    "vchat dev is running",
    `  web      ${s.url}${server.config.webDir ? "" : "  (no web build: run npm run build:web)"}`,
    `  api      ${s.api}`,
    `  socket   ${s.ws}`,
    `  metrics  ${s.metrics}`,
    turnLine(s.turn, opts),
    `  db       ${s.db}`,
    "Ctrl-C stops it.",
  ];
  return lines.join("\n") + "\n";
}

function clusterBanner(cluster: DevServer, opts: DevOptions): string {
  const s = clusterStartLine(cluster, opts);
  return [
    `vchat dev is running ${s.nodes.length} nodes`,
    ...s.nodes.map((n, i) => `  node ${i + 1}   ${n.url}`),
    `  redis    ${s.redis}${s.redisSpawned ? "  (a local redis-server, stopped with vchat dev)" : ""}`,
    turnLine(s.turn, opts),
    `  db       ${s.db}`,
    "Users on different nodes are matched with each other. Ctrl-C stops it.",
  ].join("\n") + "\n";
}
