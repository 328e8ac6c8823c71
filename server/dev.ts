import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { devTuning, parseConfig, type ServerConfig, type ServerConfigInput } from "./config.ts";
import { resources, type StopFailure } from "./lifecycle.ts";
import { createLogger, type Logger } from "./log.ts";
import { startNode, type RunningNode } from "./node.ts";
import { defaultDb, localSecrets, stateFolder } from "./secrets.ts";
import { builtWebDir } from "./serve.ts";
import type { Service } from "./service.ts";
import { devCertificate, type DevCertificate } from "./tls-cert.ts";
import { openSqliteStore } from "./store/sqlite-store.ts";
import type { Store } from "./store/store.ts";
import { redisInstalled, startRedis, type RunningRedis } from "./cluster/redis-process.ts";
import { coturnInstalled, startCoturn, type RunningCoturn, type StartCoturnOptions } from "../turn/coturn-process.ts";

export interface DevServerOptions {
  /** How many nodes: 1 matches in process; more share a Redis, as `vchat serve` nodes do. @default 1 */
  nodes?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** The first node's port; the others take the next ones. 0 gives each a free port. @default 8080 */
  port?: number;
  /** SQLite file, or ":memory:", shared by the nodes. @default ".vchat/vchat.db" */
  db?: string;
  /** Where generated secrets and the local coturn's configuration are kept; must exist. @default the database's folder */
  stateDir?: string;
  /** With several nodes, the Redis to use; without it a `redis-server` is started on 127.0.0.1 on a free port. */
  redis?: string;
  /** Put before every Redis key. @default the config's */
  keyPrefix?: string;
  /**
   * Local coturn: true starts one (fails when `turnserver` is missing), false none, "auto" one
   * when installed; options are passed to `startCoturn`. @default "auto"
   */
  turn?: boolean | "auto" | StartCoturnOptions;
  /**
   * The address TURN URLs and relay candidates name, for clients that reach this machine at another
   * one (NAT, a cloud VM). @default with a wildcard host, the first non-loopback IPv4; else host
   */
  publicIp?: string;
  /** Serve HTTPS with a self-signed certificate kept in the state folder (a phone on the LAN then gets its camera). */
  https?: boolean;
  /** Folder of the web client's build; null serves none. @default the package's web/dist */
  webDir?: string | null;
  /** No logs. */
  quiet?: boolean;
  /** The root logger. @default JSON lines on stderr, silent when `quiet` */
  logger?: Logger;
  /** Overrides of the nodes' configuration (tuning knobs, token lifetime, ...), over the dev preset. */
  config?: Partial<ServerConfigInput>;
}

export interface DevServer {
  /** The first node's base URL. */
  url: string;
  port: number;
  urls: string[];
  nodes: RunningNode[];
  /** The first node's configuration. */
  config: ServerConfig;
  turn: RunningCoturn | null;
  /**
   * With a wildcard host: the address others on the network reach (`publicIp`, else the first
   * non-loopback IPv4), or null when this machine has none (loopback only).
   */
  lanAddress: string | null;
  /** The self-signed certificate's file with `https`, for a browser or `curl --cacert`. */
  certFile: string | null;
  /** The Redis of several nodes (password hidden), and whether this started it. */
  redis: { url: string; spawned: boolean; server: RunningRedis | null } | null;
  store: Store;
  /** The first node's service. */
  service: Service;
  /**
   * Graceful, in the reverse order of the start: every node's calls get `call:ended` with
   * `server-shutdown` and its port closes, then the store, Redis and coturn (its configuration
   * removed). Resolves to the steps that failed.
   */
  stop(): Promise<StopFailure[]>;
}

/** A cluster of local nodes is a dev server with several nodes. */
export type LocalCluster = DevServer;

/**
 * `vchat dev`: the whole service on one machine. Local secrets (kept beside the database), an
 * optional local coturn on the service's address (127.0.0.1 by default), the dev tuning preset, and `startNode` once, or N times on
 * consecutive ports over one Redis (a local `redis-server` unless one is given) and one shared
 * SQLite store: users on different nodes are matched and talk exactly as on one.
 *
 * @example
 * const dev = await startDevServer({ port: 0, db: ":memory:", quiet: true });
 * // ... dev.url ...
 * await dev.stop();
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const count = opts.nodes ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error(`nodes must be a whole number from 1 to 64, got ${count}`);
  const host = opts.host ?? "127.0.0.1";
  const firstPort = opts.port ?? 8080;
  if (firstPort !== 0 && firstPort + count - 1 > 65535) throw new Error(`ports ${firstPort}..${firstPort + count - 1} do not fit below 65536`);
  const db = opts.db ?? defaultDb;
  const logLevel = opts.quiet ? "silent" : (opts.config?.logLevel ?? "info");
  const logger = opts.logger ?? createLogger(logLevel);
  const folder = stateFolder(db, opts.stateDir);
  const secrets = localSecrets(folder, logger);
  const clustered = count > 1 || opts.redis !== undefined;

  const opened = resources(logger.child({ module: "dev" }));
  try {
    let redisServer: RunningRedis | null = null;
    let redisUrl = opts.redis ?? null;
    if (clustered && !redisUrl) {
      if (!redisInstalled()) throw new Error("redis-server is not installed: install it (Debian package redis-server) or pass --redis URL");
      const server = await startRedis();
      opened.add("redis-server", () => server.stop());
      redisServer = server;
      redisUrl = server.url;
    }

    const wildcard = host === "0.0.0.0" || host === "::";
    const lanAddress = wildcard ? (opts.publicIp ?? firstLanIpv4()) : null;
    const turn = await localCoturn(opts.turn ?? "auto", secrets.turnSecret, folder, host, opts.publicIp);
    if (turn) opened.add("coturn", () => turn.stop());

    let tls: DevCertificate | null = null;
    if (opts.https) {
      // :memory: keeps no state folder: the certificate lives as long as this run.
      const certFolder = folder ?? mkdtempSync(join(tmpdir(), "vchat-dev-tls-"));
      if (!folder) opened.add("certificate", () => rmSync(certFolder, { recursive: true, force: true }));
      const own = [wildcard ? null : host, wildcard ? firstLanIpv4() : null, opts.publicIp ?? null].filter((a): a is string => a !== null);
      tls = devCertificate(certFolder, [...new Set(["localhost", "127.0.0.1", ...own])]);
    }

    const store = await openSqliteStore(db);
    opened.add("store", () => store.close());

    const nodes: RunningNode[] = [];
    for (let i = 0; i < count; i++) {
      const config = parseConfig({
        host,
        port: firstPort === 0 ? 0 : firstPort + i,
        jwtSecret: secrets.jwtSecret,
        adminSecret: secrets.adminSecret,
        turn: turn ? { secret: turn.secret, urls: turn.urls } : null,
        webDir: opts.webDir === undefined ? builtWebDir() : opts.webDir,
        db,
        redis: redisUrl,
        ...(clustered ? { nodeId: `node${i + 1}-${randomBytes(3).toString("hex")}` } : {}),
        ...(opts.keyPrefix ? { keyPrefix: opts.keyPrefix } : {}),
        ...opts.config,
        logLevel,
        tuning: { ...devTuning, ...opts.config?.tuning },
      });
      const node = await startNode(config, { store, logger, ...(tls ? { tls } : {}) });
      opened.add(`node ${config.nodeId}`, () => node.stop().then(throwFailures));
      nodes.push(node);
    }

    const first = nodes[0]!;
    return {
      url: first.url,
      port: first.port,
      urls: nodes.map((n) => n.url),
      nodes,
      config: first.config,
      turn,
      lanAddress,
      certFile: tls?.certFile ?? null,
      redis: redisUrl ? { url: first.redisUrl ?? redisUrl, spawned: redisServer !== null, server: redisServer } : null,
      store,
      service: first.service,
      stop: () => opened.close(),
    };
  } catch (err) {
    await opened.close();
    throw err;
  }
}

/**
 * The local coturn, decided once for one node or several: "auto" starts one when `turnserver` is
 * installed. Its configuration (with the secret) lives in the state folder and is removed at stop.
 */
async function localCoturn(
  want: DevServerOptions["turn"],
  secret: string,
  folder: string | null,
  host: string,
  publicIp: string | undefined,
): Promise<RunningCoturn | null> {
  if (want === false || (want === "auto" && !coturnInstalled())) return null;
  if (!coturnInstalled()) throw new Error("turn: `turnserver` (Debian package coturn) is not installed");
  const turnOpts = typeof want === "object" ? want : {};
  // coturn listens where the service does, so its URLs reach whoever reaches the service. On a
  // wildcard it listens on every address and relays on the LAN address (loopback when there is
  // none); the URLs name the public address when given, the LAN one otherwise.
  const wildcard = host === "0.0.0.0" || host === "::";
  const relayIp = wildcard ? (firstLanIpv4() ?? "127.0.0.1") : host;
  const advertise = publicIp ?? relayIp;
  // Loopback peers only in this local mode: two users on one machine relay to each other. On
  // another address, two relay-only users relay between two ports of that address, which the
  // production deny list (private and documentation ranges) would refuse.
  const ownAddress = /^127\.|^::1$/.test(relayIp) ? [] : [relayIp];
  return startCoturn({
    secret,
    realm: "vchat.local",
    ...(folder ? { dir: join(folder, "coturn") } : {}),
    ...turnOpts,
    mode: "local",
    // Its readiness is asked on loopback when it listens everywhere.
    host: wildcard ? "127.0.0.1" : host,
    ...(wildcard ? { listeningIps: [], relayIps: [relayIp] } : {}),
    advertise,
    // Relay candidates name the public address; coturn still relays on its own (RFC 5766 behind NAT).
    ...(advertise !== relayIp ? { externalIp: `${advertise}/${relayIp}` } : {}),
    allowedPeerIps: [...ownAddress, ...(turnOpts.allowedPeerIps ?? [])],
  });
}

/** The first IPv4 address of this machine that is not loopback, or null on a loopback-only machine. */
function firstLanIpv4(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return null;
}

function throwFailures(failed: StopFailure[]): void {
  if (failed.length > 0) throw new Error(failed.map((f) => `${f.step}: ${f.error}`).join("; "));
}
