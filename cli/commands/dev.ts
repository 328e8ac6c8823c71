import type { Command } from "commander";
import type { DevServer } from "../../server/dev.ts";
import { exitCodes, intOption } from "../exit.ts";
import { untilSignal } from "../signals.ts";

export interface DevOptions {
  host: string;
  port: number;
  db: string;
  turn: boolean;
  json: boolean;
  /** Nodes over one Redis (`dev-nodes.ts`); 1 is the embedded single process. */
  nodes?: number;
  redis?: string;
}

export function registerDev(program: Command): void {
  program
    .command("dev")
    .description("run the whole service on this machine: API, signaling, web client, local coturn when installed")
    .option("--host <address>", "address to listen on; the local coturn listens and its TURN URLs point there too", "127.0.0.1")
    .option("--port <port>", "port to listen on (0 picks a free one)", intOption("--port", 0, 65535), 8080)
    .option("--db <file>", "SQLite database file, or :memory:", ".vchat/vchat.db")
    .option("--no-turn", "do not start a local coturn")
    .option("--json", "print one JSON start line for machines", false)
    .option("--nodes <n>", "run N nodes on consecutive ports over one Redis, as vchat serve does", intOption("--nodes", 1, 16), 1)
    .option("--redis <url>", "with --nodes: the Redis to use (default: a redis-server started on loopback)")
    .action(async (opts: DevOptions) => {
      process.exitCode = await dev(opts);
    });
}

/** Runs until SIGINT or SIGTERM, then shuts down gracefully and resolves to the exit code. */
export async function dev(opts: DevOptions, signal = untilSignal()): Promise<number> {
  // The server loads only when the command runs, so `vchat --help` and other commands start fast.
  if ((opts.nodes ?? 1) > 1 || opts.redis) {
    const { devNodes } = await import("./dev-nodes.ts");
    return devNodes({ ...opts, nodes: opts.nodes ?? 1 }, signal);
  }
  const { startDevServer } = await import("../../server/dev.ts");
  const server = await startDevServer({ host: opts.host, port: opts.port, db: opts.db, turn: opts.turn ? "auto" : false });
  process.stdout.write(opts.json ? JSON.stringify(startLine(server, opts)) + "\n" : banner(server, opts));
  await signal;
  await server.stop();
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

function banner(server: DevServer, opts: DevOptions): string {
  const s = startLine(server, opts);
  const lines = [
    "vchat dev is running",
    `  web      ${s.url}${server.config.webDir ? "" : "  (no web build: run npm run build:web)"}`,
    `  api      ${s.api}`,
    `  socket   ${s.ws}`,
    `  metrics  ${s.metrics}`,
    `  turn     ${s.turn.length ? s.turn.join("  ") : opts.turn ? "none (install coturn for relayed calls)" : "off (--no-turn)"}`,
    `  db       ${s.db}`,
    "Ctrl-C stops it.",
  ];
  return lines.join("\n") + "\n";
}
