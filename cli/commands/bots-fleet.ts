/**
 * The many-process side of `vchat bots`: the coordinator's Redis (as `vchat serve` connects to
 * it: `redis://` or `rediss://`, a password in the URL, a standalone server or a Redis Cluster),
 * local worker processes for `--local`, and `vchat bots worker`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { Command } from "commander";
import { BotError } from "../../bots/bot.ts";
import type { FleetReport } from "../../bots/fleet/merge.ts";
import type { BotsOptions } from "../../bots/run.ts";
import { diesWithParent } from "../../lib/processes.ts";
import { redisKeys } from "../../server/cluster/keys.ts";
import { connectRedis, type RedisConnections } from "../../server/cluster/redis.ts";
import { startRedis, type RunningRedis } from "../../server/cluster/redis-process.ts";
import { createLogger } from "../../server/log.ts";
import { CliError, exitCodes, parseDuration, UsageError } from "../exit.ts";
import { interruption } from "../signals.ts";

/** The coordinator's Redis URL from the environment: a password stays out of process lists. */
export const coordinatorEnv = "VCHAT_BOTS_COORDINATOR";

export interface FleetCli {
  /** Worker processes. */
  workers: number;
  /** The coordinator's Redis; null with `local`: a redis-server of our own. */
  coordinator: string | null;
  /** Start the workers here, as child processes. */
  local: boolean;
  registerTimeoutMs: number;
}

/** The vchat entry beside this module, for local workers: TypeScript from the sources, JavaScript installed. */
const cliEntry = new URL(import.meta.url.endsWith(".ts") ? "../vchat.ts" : "../vchat.js", import.meta.url);

async function connect(url: string, who: string): Promise<RedisConnections> {
  try {
    return await connectRedis(url, who, redisKeys("vchat"), createLogger("warn"));
  } catch (err) {
    const where = url.replace(/\/\/[^/@]*@/, "//[redacted]@");
    throw new CliError("UNAVAILABLE", `cannot reach the coordinator's Redis at ${where}: ${(err as Error).message}`);
  }
}

/** Runs the coordinator; with `local`, its workers too (and a redis-server when no coordinator was given). */
export async function runFleetFromCli(opts: BotsOptions, fleet: FleetCli): Promise<FleetReport> {
  const { runFleet } = await import("../../bots/fleet/coordinator.ts");
  let ownRedis: RunningRedis | null = null;
  if (!fleet.coordinator) ownRedis = await startRedis();
  const url = fleet.coordinator ?? ownRedis!.url;
  const children: ChildProcess[] = [];
  let conn: RedisConnections | null = null;
  try {
    conn = await connect(url, "bots-coordinator");
    const startLocal = (runId: number) => {
      for (let i = 1; i <= fleet.workers; i++) {
        const args = [...process.execArgv, cliEntry.pathname, "bots", "worker", "--run", String(runId), "--name", `local-${i}`];
        const child = spawn(...diesWithParent(process.execPath, args), {
          stdio: ["ignore", "ignore", "inherit"],
          env: { ...process.env, [coordinatorEnv]: url },
        });
        children.push(child);
      }
    };
    return await runFleet({
      ...opts,
      workers: fleet.workers,
      redis: conn.cmd,
      registerTimeoutMs: fleet.registerTimeoutMs,
      onPlanned: fleet.local ? startLocal : undefined,
    });
  } catch (err) {
    if (err instanceof BotError) throw new CliError(err.code, err.message, err.code === "VALIDATION_FAILED" ? exitCodes.usage : exitCodes.failed);
    throw err;
  } finally {
    // Workers end on their own after their report; a straggler gets a few seconds, then is killed.
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill("SIGKILL"), 5000);
            c.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    await conn?.close();
    await ownRedis?.stop();
  }
}

interface WorkerRaw {
  coordinator?: string | true;
  name?: string;
  run?: string;
  wait: string;
  json?: boolean | string;
}

export function registerBotsWorker(bots: Command): void {
  bots
    .command("worker")
    .description(`run a worker of a run over many processes or machines: joins the run open on the coordinator's Redis and runs its share of the bots`)
    .option("--coordinator <redis-url>", `the coordinator's Redis, redis:// or rediss:// (or ${coordinatorEnv})`)
    .option("--name <name>", "this worker's name in the report (default: host-pid)")
    .option("--run <id>", "join this run only (default: the run open on the coordinator)")
    .option("--wait <time>", "how long to wait for a run to open", "60s")
    .option("--json", "print the result as JSON")
    // `bots` has --coordinator and --json too and takes them wherever they stand: read both levels.
    .action(async (_: WorkerRaw, cmd: Command) => {
      const raw = cmd.optsWithGlobals<WorkerRaw>();
      const url = typeof raw.coordinator === "string" ? raw.coordinator : process.env[coordinatorEnv];
      if (!url)
        throw new UsageError(`--coordinator is required (or ${coordinatorEnv}): the Redis the coordinator plans the run in, e.g. redis://127.0.0.1:6379`);
      if (!/^rediss?:\/\//.test(url)) throw new UsageError("--coordinator must be a redis:// or rediss:// URL");
      if (raw.run !== undefined && !/^\d+$/.test(raw.run)) throw new UsageError(`--run must be a run id (a whole number), got "${raw.run}"`);
      if (raw.name !== undefined && !/^[\w.-]{1,64}$/.test(raw.name))
        throw new UsageError(`--name must be 1-64 letters, digits, '.', '-' or '_', got "${raw.name}"`);
      const waitMs = parseDuration(raw.wait);
      const { runFleetWorker } = await import("../../bots/fleet/worker.ts");
      const conn = await connect(url, "bots-worker");
      const stop = interruption();
      try {
        const r = await runFleetWorker({
          redis: conn.cmd,
          name: raw.name,
          runId: raw.run === undefined ? undefined : Number(raw.run),
          waitMs,
          signal: stop.signal,
        });
        if (raw.json !== undefined) process.stdout.write(JSON.stringify({ ok: true, ...r }) + "\n");
        else process.stderr.write(`vchat bots worker ${r.name}: run ${r.runId}, ${r.bots} bots, ${r.legs} legs reported (${r.end})\n`);
        process.exitCode = stop.exitCode() ?? exitCodes.ok;
      } catch (err) {
        if (err instanceof BotError) throw new CliError(err.code, err.message, exitCodes.failed);
        throw err;
      } finally {
        stop.dispose();
        await conn.close();
      }
    });
}
