import type { Command } from "commander";
import { isIP } from "node:net";
import type { DevServer } from "../../server/dev.ts";
import type { ServiceStatus } from "../../server/status.ts";
import { exitCodes, intOption, UsageError } from "../exit.ts";
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
  /** The address TURN URLs name for the LAN or the internet (default with --host 0.0.0.0: the first non-loopback IPv4). */
  publicIp?: string;
  /** Serve HTTPS with a self-signed certificate (a phone on the LAN gets its camera). */
  https?: boolean;
}

function ipOption(text: string): string {
  if (isIP(text) === 0) throw new UsageError(`--public-ip must be an IPv4 or IPv6 address, got "${text}"`);
  return text;
}

export function registerDev(program: Command): void {
  program
    .command("dev")
    .description("run the whole service on this machine: API, signaling, web client, local coturn when installed")
    .option(
      "--host <address>",
      "address to listen on; the local coturn listens there too (with 0.0.0.0 its TURN URLs name the first non-loopback IPv4)",
      "127.0.0.1",
    )
    .option("--public-ip <address>", "the address TURN URLs and relay candidates name (behind NAT, or to choose the LAN address)", ipOption)
    .option("--https", "serve HTTPS with a self-signed certificate kept in the state folder, so a phone on the LAN gets its camera", false)
    .option("--port <port>", "port to listen on (0 picks a free one)", intOption("--port", 0, 65535), 8080)
    .option("--db <file>", "SQLite database file, or :memory:", ".vchat/vchat.db")
    .option("--state-dir <folder>", "an existing folder for the secrets and the local coturn's configuration (default: the database's folder)")
    .option("--no-turn", "do not start a local coturn")
    .option("--json", "print one JSON start line for machines", false)
    .option("--nodes <n>", "run N nodes on consecutive ports over one Redis, as vchat serve does", intOption("--nodes", 1, 16), 1)
    .option("--redis <url>", "with --nodes: the Redis to use (default: a redis-server started on loopback)")
    .option(
      "--prod-shape",
      "rehearse production: haproxy on --port routing as CloudFront, 2 nodes on a local Redis, coturn, the web build served as the bucket",
      false,
    )
    .action(async (opts: DevOptions) => {
      if (opts.prodShape && (opts.https || opts.publicIp !== undefined))
        throw new UsageError("--prod-shape serves plain HTTP on loopback: leave out --https and --public-ip");
      process.exitCode = opts.prodShape ? await prodShape(opts) : await dev(opts);
    });
}

/** Runs until SIGINT or SIGTERM, then shuts down gracefully and resolves to the exit code. */
export async function dev(opts: DevOptions, signal = untilSignal()): Promise<number> {
  // The server loads only when the command runs, so `vchat --help` and other commands start fast.
  const { startDevServer } = await import("../../server/dev.ts");
  const terminal = Boolean(process.stdout.isTTY) && !opts.json;
  const server = await startDevServer({
    nodes: opts.nodes ?? 1,
    host: opts.host,
    port: opts.port,
    db: opts.db,
    stateDir: opts.stateDir,
    redis: opts.redis,
    turn: opts.turn ? "auto" : false,
    publicIp: opts.publicIp,
    https: opts.https,
    // Several nodes log a lot; one JSON start line is what machines want.
    quiet: ((opts.nodes ?? 1) > 1 || opts.redis !== undefined) && opts.json,
    // On a terminal the status block shows what happens; info lines would tear it apart.
    ...(terminal ? { config: { logLevel: "warn" } } : {}),
  });
  const line = server.redis ? clusterStartLine(server, opts) : startLine(server, opts);
  process.stdout.write(opts.json ? JSON.stringify(line) + "\n" : server.redis ? clusterBanner(server, opts) : banner(server, opts));
  const status = opts.json ? null : await showStatus(server, process.stdout, terminal);
  await signal;
  status?.stop();
  const failed = await server.stop();
  for (const f of failed) process.stderr.write(`vchat dev: stopping ${f.step} failed: ${f.error}\n`);
  if (!opts.json) process.stdout.write("vchat dev stopped\n");
  return failed.length > 0 ? exitCodes.failed : exitCodes.ok;
}

/**
 * What happens on the service, from the nodes' own metrics each second: an ink block on a
 * terminal, else a plain line on stdout each time the figures change.
 */
async function showStatus(server: DevServer, out: NodeJS.WriteStream, terminal: boolean): Promise<{ stop(): void }> {
  const [{ statusSampler }, { DevStatus, statusLine }] = await Promise.all([import("../../server/status.ts"), import("../ui/dev.ts")]);
  const sampler = statusSampler(server.nodes.map((n) => n.service));
  let draw: (s: ServiceStatus) => void;
  let unmount = () => {};
  if (terminal) {
    const [{ render }, React] = await Promise.all([import("ink"), import("react")]);
    const view = render(React.createElement(DevStatus, { status: null }), { stdout: out, patchConsole: false, exitOnCtrlC: false });
    draw = (s) => view.rerender(React.createElement(DevStatus, { status: s }));
    unmount = () => view.unmount();
  } else {
    let last = "";
    draw = (s) => {
      const line = statusLine(s);
      if (line !== last) out.write(`status: ${line}\n`);
      last = line;
    };
  }
  const tick = () => void sampler.sample().then(draw, (err: unknown) => out.write(`vchat dev: status unavailable: ${(err as Error).message}\n`));
  tick();
  const timer = setInterval(tick, 1000);
  return {
    stop() {
      clearInterval(timer);
      unmount();
    },
  };
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
  const line = {
    event: "ready",
    url: `${shape.url}/`,
    nodes: shape.cluster.urls.map((u) => `${u}/`),
    turn: shape.cluster.turn?.urls ?? [],
    redis: shape.cluster.redis?.url ?? null,
  };
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

/** Where others on the network open it: the LAN address with a wildcard host, said plainly when there is none. */
function lanLine(server: DevServer, opts: DevOptions): string[] {
  if (opts.host !== "0.0.0.0" && opts.host !== "::") return [];
  const scheme = server.url.startsWith("https") ? "https" : "http";
  if (!server.lanAddress) return ["  lan      none: this machine has only loopback addresses; TURN stays on 127.0.0.1 (--public-ip ADDR names another)"];
  const host = server.lanAddress.includes(":") ? `[${server.lanAddress}]` : server.lanAddress;
  return [
    `  lan      ${scheme}://${host}:${server.port}/${scheme === "https" ? "  (self-signed: accept the certificate once on the phone)" : "  (a phone's camera needs --https)"}`,
  ];
}

function banner(server: DevServer, opts: DevOptions): string {
  const s = startLine(server, opts);
  const lines = [
    "vchat dev is running",
    `  web      ${s.url}${server.config.webDir ? "" : "  (no web build: run npm run build:web)"}`,
    ...lanLine(server, opts),
    ...(server.certFile ? [`  cert     ${server.certFile}  (self-signed)`] : []),
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
  return (
    [
      `vchat dev is running ${s.nodes.length} nodes`,
      ...s.nodes.map((n, i) => `  node ${i + 1}   ${n.url}`),
      `  redis    ${s.redis}${s.redisSpawned ? "  (a local redis-server, stopped with vchat dev)" : ""}`,
      turnLine(s.turn, opts),
      `  db       ${s.db}`,
      "Users on different nodes are matched with each other. Ctrl-C stops it.",
    ].join("\n") + "\n"
  );
}
