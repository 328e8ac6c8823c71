import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfig, type ServerConfig, type ServerConfigInput } from "./config.ts";
import { createLogger } from "./log.ts";
import { createMemoryMatchmaker } from "./matching/memory-matchmaker.ts";
import { localSecrets } from "./secrets.ts";
import { createService, type Service } from "./service.ts";
import { openSqliteStore } from "./store/sqlite-store.ts";
import type { Store } from "./store/store.ts";
import { coturnInstalled, startCoturn, type RunningCoturn, type StartCoturnOptions } from "../turn/coturn-process.ts";

/** The web client's build shipped in the package, served when it exists. */
export const defaultWebDir = fileURLToPath(new URL("../web/dist", import.meta.url));

export interface DevServerOptions {
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 picks a free port. @default 8080 */
  port?: number;
  /** SQLite file, or ":memory:". @default ".vchat/vchat.db" */
  db?: string;
  /** Where generated secrets are kept. @default ".vchat" */
  stateDir?: string;
  /**
   * Local coturn: true starts one (fails when `turnserver` is missing), false none, "auto" one
   * when installed; options are passed to `startCoturn`. @default "auto"
   */
  turn?: boolean | "auto" | StartCoturnOptions;
  /** Folder of the web client's build; null serves none. @default the package's web/dist */
  webDir?: string | null;
  /** No logs. */
  quiet?: boolean;
  /** Overrides of the server configuration (tuning knobs, token lifetime, ...). */
  config?: Partial<ServerConfigInput>;
}

export interface DevServer {
  url: string;
  port: number;
  config: ServerConfig;
  turn: RunningCoturn | null;
  store: Store;
  service: Service;
  /** Graceful: calls get `call:ended` with `server-shutdown`, the store is flushed, coturn stops. */
  stop(): Promise<void>;
}

/**
 * The whole service on one machine with embedded defaults: in-process matching, SQLite, and a
 * local coturn on 127.0.0.1 when installed.
 *
 * @example
 * const dev = await startDevServer({ port: 0, db: ":memory:", quiet: true });
 * // ... dev.url ...
 * await dev.stop();
 */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const host = opts.host ?? "127.0.0.1";
  const db = opts.db ?? ".vchat/vchat.db";
  const secrets = localSecrets(db, opts.stateDir ?? ".vchat");

  const wantTurn = opts.turn ?? "auto";
  let turn: RunningCoturn | null = null;
  if (wantTurn !== false && (wantTurn !== "auto" || coturnInstalled())) {
    if (!coturnInstalled()) throw new Error("turn: `turnserver` (Debian package coturn) is not installed");
    const turnOpts = typeof wantTurn === "object" ? wantTurn : {};
    // Loopback peers only in this local mode: two users on one machine relay to each other.
    turn = await startCoturn({ secret: secrets.turnSecret, realm: "vchat.local", ...turnOpts, mode: "local", host: "127.0.0.1" });
  }

  let store: Store | undefined;
  try {
    const config = parseConfig({
      host,
      port: opts.port ?? 8080,
      jwtSecret: secrets.jwtSecret,
      turn: turn ? { secret: turn.secret, urls: turn.urls } : null,
      webDir: opts.webDir === undefined ? (existsSync(join(defaultWebDir, "index.html")) ? defaultWebDir : null) : opts.webDir,
      logLevel: opts.quiet ? "silent" : "info",
      ...opts.config,
      // Everyone is on this machine (browsers, bots): per-address sign-up limits would only get in the way.
      tuning: { signupsPerMinute: 100_000, ...opts.config?.tuning },
    });
    const logger = createLogger(config.logLevel);
    store = await openSqliteStore(db);
    const matchmaker = createMemoryMatchmaker(config.tuning);
    const service = createService({ config, store, matchmaker, logger });
    const url = await service.listen(config.port, config.host);
    const openStore = store;
    let stopped: Promise<void> | undefined;
    return {
      url,
      port: Number(new URL(url).port),
      config,
      turn,
      store,
      service,
      stop() {
        stopped ??= (async () => {
          await service.close();
          await matchmaker.close();
          await openStore.close();
          await turn?.stop();
        })();
        return stopped;
      },
    };
  } catch (err) {
    await store?.close();
    await turn?.stop();
    throw err;
  }
}

