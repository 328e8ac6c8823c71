/**
 * What the coordinator and its workers say to each other over Redis. One run id keys everything:
 * `<prefix>:{<run>}:plan` (the plan, a string), `…:ctl` (coordinator → workers: start, stop) and
 * `…:up` (workers → coordinator: register, beats, legs, done), two streams. The hash tag keeps a
 * run's keys in one slot of a Redis Cluster. `<prefix>:open` names the run taking workers now.
 */
import type { Cluster, Redis } from "ioredis";
import { z } from "zod";
import type { EncodedFigures } from "../figures.ts";
import type { LoopStats } from "../overload.ts";
import type { BotCounts, CallLeg } from "../types.ts";
import type { FleetPlan } from "./plan.ts";

/** A standalone Redis or a Redis Cluster, as `vchat serve` connects to it. */
export type RedisClient = Redis | Cluster;

export const keyPrefix = "vchat-bots";

export function runKeys(runId: number) {
  const tagged = `${keyPrefix}:{${runId}}:`;
  return { plan: `${tagged}plan`, ctl: `${tagged}ctl`, up: `${tagged}up` };
}
export const openRunKey = `${keyPrefix}:open`;

/** Coordinator → workers. */
export type Control = { type: "start"; t0: number; assign: Record<string, number> } | { type: "stop"; reason: string };

/** A worker's live figures, about once a second. */
export interface Beat {
  /** Each bot thread's last counts, by its name. */
  counts: Record<string, BotCounts>;
  threads: LoopStats[];
  /** This worker process (every thread), percent of one core, over the last second. */
  cpuPct: number;
  /** The whole machine, percent of all its cores, over the last second. */
  hostCpuPct: number;
}

/** What a worker measured, at its end. */
export interface Done {
  threads: LoopStats[];
  cpuPct: number;
  hostCpuPct: number;
  /** How long after the barrier its bots were scheduled, ms. */
  startLagMs: number;
  bots: number;
  errors: { count: number; sample: string[] };
}

/** Workers → coordinator. */
export type UpBody =
  | { type: "register"; host: string; cores: number; pid: number }
  | ({ type: "beat" } & Beat)
  | { type: "legs"; legs: CallLeg[]; figures: EncodedFigures }
  | ({ type: "done" } & Done)
  | { type: "fatal"; code: string; message: string };
export type Up = { run: number; worker: string } & UpBody;

/** The envelope is checked; the body is a worker's own output, taken as it says. */
const upEnvelope = z.looseObject({
  run: z.number().int(),
  worker: z.string().min(1).max(100),
  type: z.enum(["register", "beat", "legs", "done", "fatal"]),
});
const controlEnvelope = z.looseObject({ type: z.enum(["start", "stop"]) });

export async function send(redis: RedisClient, key: string, m: Up | Control): Promise<void> {
  await redis.xadd(key, "*", "m", JSON.stringify(m));
}

/**
 * Reads a stream from after `lastId`, waiting up to `blockMs` for news: a blocking read, on its
 * own connection (`reader`). Entries that are not ours are skipped.
 */
export async function readUp(reader: RedisClient, key: string, lastId: string, blockMs: number): Promise<{ lastId: string; messages: Up[] }> {
  return read(reader, key, lastId, blockMs, (v) => upEnvelope.safeParse(v).success);
}

export async function readControl(reader: RedisClient, key: string, lastId: string, blockMs: number): Promise<{ lastId: string; messages: Control[] }> {
  return read(reader, key, lastId, blockMs, (v) => controlEnvelope.safeParse(v).success);
}

async function read<T>(
  reader: RedisClient,
  key: string,
  lastId: string,
  blockMs: number,
  ok: (v: unknown) => boolean,
): Promise<{ lastId: string; messages: T[] }> {
  const res = await reader.xread("COUNT", 200, "BLOCK", blockMs, "STREAMS", key, lastId);
  const messages: T[] = [];
  let last = lastId;
  for (const [id, fields] of res?.[0]?.[1] ?? []) {
    last = id;
    const i = fields.indexOf("m");
    if (i < 0 || i % 2 !== 0) continue;
    try {
      const v: unknown = JSON.parse(fields[i + 1]!);
      if (ok(v)) messages.push(v as T);
    } catch {
      // Not ours: skipped.
    }
  }
  return { lastId: last, messages };
}

/** A second connection for blocking reads (a blocked connection sends nothing else). */
export async function blockingConnection(redis: RedisClient): Promise<RedisClient> {
  const reader = (redis.duplicate as () => RedisClient)();
  if (reader.status === "wait") await reader.connect();
  return reader;
}

export async function readPlan(redis: RedisClient, runId: number): Promise<FleetPlan | null> {
  const text = await redis.get(runKeys(runId).plan);
  return text ? (JSON.parse(text) as FleetPlan) : null;
}
