import { randomBytes } from "node:crypto";
import type { ServerConfigInput } from "../config.ts";
import { localSecrets } from "../secrets.ts";
import { startNode, type NodeOptions, type RunningNode } from "../serve.ts";
import { openSqliteStore } from "../store/sqlite-store.ts";
import type { Store } from "../store/store.ts";
import { redisInstalled, startRedis, type RunningRedis } from "./redis-process.ts";
import { coturnInstalled, startCoturn, type RunningCoturn } from "../../turn/coturn-process.ts";

export interface LocalClusterOptions {
  /** How many nodes. @default 2 */
  nodes?: number;
  /** @default "127.0.0.1" */
  host?: string;
  /** The first node's port; the others take the next ones. 0 gives each a free port. @default 8080 */
  port?: number;
  /** One SQLite file (or ":memory:") shared by the nodes. @default ".vchat/vchat.db" */
  db?: string;
  /** A Redis to use; without it a `redis-server` is started on 127.0.0.1 on a free port. */
  redis?: string;
  /** Local coturn for all nodes: as in `vchat dev`. @default "auto" */
  turn?: boolean | "auto";
  /** Where generated secrets are kept (the same file as `vchat dev`'s). @default ".vchat" */
  stateDir?: string;
  webDir?: string | null;
  quiet?: boolean;
  keyPrefix?: string;
  config?: Partial<ServerConfigInput>;
  presence?: NodeOptions["presence"];
}

export interface LocalCluster {
  urls: string[];
  nodes: RunningNode[];
  /** The Redis in use (password hidden), and whether this cluster started it. */
  redis: { url: string; spawned: boolean; server: RunningRedis | null };
  turn: RunningCoturn | null;
  store: Store;
  stop(): Promise<void>;
}

/**
 * `vchat dev --nodes N`: N production nodes in this process on consecutive ports, over one Redis
 * (a local `redis-server` started on loopback unless one is given) and one shared SQLite store.
 * Users connected to different nodes are matched and talk exactly as on one node.
 *
 * @example
 * const cluster = await startLocalCluster({ nodes: 3, port: 0, db: ":memory:", turn: false, quiet: true });
 * // cluster.urls → ["http://127.0.0.1:41001", ...]
 * await cluster.stop();
 */
export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const count = opts.nodes ?? 2;
  if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error(`nodes must be a whole number from 1 to 64, got ${count}`);
  const host = opts.host ?? "127.0.0.1";
  const firstPort = opts.port ?? 8080;
  if (firstPort !== 0 && firstPort + count - 1 > 65535) throw new Error(`ports ${firstPort}..${firstPort + count - 1} do not fit below 65536`);
  const db = opts.db ?? ".vchat/vchat.db";
  const secrets = localSecrets(db, opts.stateDir ?? ".vchat");

  const undo: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const fn of undo.reverse()) await fn().catch(() => {});
  };
  try {
    let server: RunningRedis | null = null;
    let redisUrl = opts.redis;
    if (!redisUrl) {
      if (!redisInstalled()) throw new Error("redis-server is not installed: install it (Debian package redis-server) or pass --redis URL");
      server = await startRedis();
      const s = server;
      undo.push(() => s.stop());
      redisUrl = server.url;
    }

    let turn: RunningCoturn | null = null;
    const wantTurn = opts.turn ?? "auto";
    if (wantTurn !== false && (wantTurn === true || coturnInstalled())) {
      if (!coturnInstalled()) throw new Error("turn: `turnserver` (Debian package coturn) is not installed");
      // Loopback peers only in this local mode, as in `vchat dev`.
      turn = await startCoturn({ secret: secrets.turnSecret, realm: "vchat.local", mode: "local", host: "127.0.0.1" });
      const t = turn;
      undo.push(() => t.stop());
    }

    const store = await openSqliteStore(db);
    undo.push(() => store.close());

    const nodes: RunningNode[] = [];
    for (let i = 0; i < count; i++) {
      const node = await startNode({
        host,
        port: firstPort === 0 ? 0 : firstPort + i,
        redis: redisUrl,
        store,
        env: {},
        nodeId: `node${i + 1}-${randomBytes(3).toString("hex")}`,
        keyPrefix: opts.keyPrefix,
        webDir: opts.webDir,
        quiet: opts.quiet,
        presence: opts.presence,
        config: {
          jwtSecret: secrets.jwtSecret,
          turn: turn ? { secret: turn.secret, urls: turn.urls } : null,
          ...opts.config,
        },
      });
      nodes.push(node);
      undo.push(() => node.stop());
    }

    let stopped: Promise<void> | undefined;
    return {
      urls: nodes.map((n) => n.url),
      nodes,
      redis: { url: nodes[0]?.redisUrl ?? redisUrl, spawned: server !== null, server },
      turn,
      store,
      stop() {
        stopped ??= stopAll();
        return stopped;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

