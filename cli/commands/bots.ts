import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { Option, type Command } from "commander";
import { turnTransports, type TurnTransport } from "../../bots/ice.ts";
import type { BotsReport } from "../../bots/report.ts";
import type { BotsOptions, Progress } from "../../bots/run.ts";
import { mediaKinds, relayModes, type MediaKind, type RelayMode } from "../../bots/types.ts";
import { CliError, exitCodes, intOption, parseDuration, UsageError } from "../exit.ts";
import { interruption } from "../signals.ts";
import type { CoordinatorRun, FleetDeps } from "../fleet.ts";
import { coordinatorEnv, registerBotsWorker, runFleetFromCli, type FleetCli } from "./bots-fleet.ts";
import { vchatVersion } from "../version.ts";

/** Bot pairs when neither --pairs nor --peers is given; shown in `--help` and on the start line. */
export const defaultPairs = 10;
/** The most pairs one machine runs; beyond, only a fleet. */
const maxLocalPairs = 5000;

interface RawOptions {
  url?: string;
  pairs?: number;
  peers?: number;
  duration: string;
  ramp: string;
  relay: string;
  turnTransport: string;
  interests?: string;
  churn?: string;
  bitrate: number;
  impairLoss?: string;
  impairDelay?: string;
  impairCorrupt?: string;
  impairReplay?: string;
  impairCut?: string;
  mediaStopped?: string;
  dataChannel?: boolean;
  allowOverload?: boolean;
  minMos?: string;
  media: string;
  json?: string | boolean;
  html?: string;
  maxLoss?: string;
  maxSetupMs?: string;
  minConnected: string;
  workers?: number;
  connectTimeout: string;
  turnRewrite?: string[];
  runId?: string;
  coordinator?: string | true;
  local?: boolean;
  workerTimeout?: string;
  fleet?: number;
  stack?: string;
  keep?: boolean;
}

/** `--fleet W --stack NAME [--keep]`: the run's workers as tasks of a bots fleet on ECS Fargate (docs/fleet.md). */
export interface FargateFleet {
  workers: number;
  stack: string;
  keep: boolean;
  registerTimeoutMs: number;
}

function fargateFleet(raw: RawOptions): FargateFleet | undefined {
  if (raw.fleet === undefined) {
    if (raw.stack !== undefined || raw.keep) throw new UsageError("--stack and --keep go with --fleet W");
    if ((raw.pairs ?? 0) > maxLocalPairs)
      throw new UsageError(`--pairs must be a whole number from 1 to ${maxLocalPairs} on one machine, got "${raw.pairs}"; more need --fleet W (docs/fleet.md)`);
    return undefined;
  }
  if (!raw.stack) throw new UsageError("--fleet needs --stack NAME: the vchat-fleet stack to bring up (docs/fleet.md)");
  if (raw.peers !== undefined) throw new UsageError("--fleet plans calls: give --pairs, not --peers");
  if (raw.workers !== undefined) throw new UsageError("--workers counts this machine's threads or processes; with --fleet W each worker task sizes its own");
  if (raw.coordinator !== undefined || raw.local) throw new UsageError("--fleet brings its own coordinator Redis: leave out --coordinator and --local");
  const registerTimeoutMs = parseDuration(raw.workerTimeout ?? "60s");
  if (registerTimeoutMs < 1000) throw new UsageError(`--worker-timeout must be at least 1s, got "${raw.workerTimeout}"`);
  return { workers: raw.fleet, stack: raw.stack, keep: raw.keep === true, registerTimeoutMs };
}

function runIdOption(text: string | undefined): number | undefined {
  if (text !== undefined && !/^\d+$/.test(text)) throw new UsageError(`--run-id must be a whole number from 1 to 4294967295, got "${text}"`);
  return num("--run-id", text, 1, 0xffffffff);
}

function num(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${name} must be a number from ${min} to ${max}, got "${text}"`);
  return n;
}

function oneOf<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) throw new UsageError(`${name} must be one of ${allowed.join(", ")}, got "${text}"`);
  return text as T;
}

/** `--workers` with `--coordinator` or `--local`: worker processes, coordinated over Redis. */
function parseFleet(raw: RawOptions): FleetCli | null {
  if (!raw.local && raw.coordinator === undefined) return null;
  // `--coordinator` without a URL takes it from the environment (a password stays out of process lists).
  const coordinator = typeof raw.coordinator === "string" ? raw.coordinator : process.env[coordinatorEnv] || null;
  if (raw.coordinator === true && !coordinator) throw new UsageError(`--coordinator without a URL reads it from ${coordinatorEnv}, which is not set`);
  if (coordinator !== null && !/^rediss?:\/\//.test(coordinator)) throw new UsageError("--coordinator must be a redis:// or rediss:// URL");
  if (raw.workers === undefined || raw.workers < 1) throw new UsageError("--coordinator and --local need --workers N (worker processes, at least 1)");
  const registerTimeoutMs = parseDuration(raw.workerTimeout ?? "60s");
  if (registerTimeoutMs < 1000) throw new UsageError(`--worker-timeout must be at least 1s, got "${raw.workerTimeout}"`);
  // --local without --coordinator: a redis-server of its own.
  return { workers: raw.workers, coordinator: raw.coordinator === undefined ? null : coordinator, local: raw.local === true, registerTimeoutMs };
}

/** Maps the command line to `runBots` options; every mistake is a `UsageError` (exit 2). */
export function parseBotsOptions(
  raw: RawOptions,
): BotsOptions & { jsonFile: string | null; jsonStdout: boolean; htmlFile: string | null; fleet: FleetCli | null; fargate: FargateFleet | undefined } {
  if (!raw.url) throw new UsageError("--url is required: the vchat service to test, e.g. --url http://127.0.0.1:8080");
  let url: URL;
  try {
    url = new URL(raw.url);
  } catch {
    throw new UsageError(`--url must be a URL like http://127.0.0.1:8080, got "${raw.url}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError("--url must be http:// or https://");
  if (raw.pairs !== undefined && raw.peers !== undefined) throw new UsageError("give --pairs or --peers, not both");
  const fargate = fargateFleet(raw);
  const fleet = parseFleet(raw);
  const relay = oneOf<RelayMode>("--relay", raw.relay, relayModes);
  const impairLossPct = num("--impair-loss", raw.impairLoss, 0, 100);
  const impairDelayMs = num("--impair-delay", raw.impairDelay, 0, 10_000);
  const impairCorruptPct = num("--impair-corrupt", raw.impairCorrupt, 0, 100);
  const impairReplayPct = num("--impair-replay", raw.impairReplay, 0, 100);
  const touchesMedia = (impairLossPct ?? 0) > 0 || (impairCorruptPct ?? 0) > 0 || (impairReplayPct ?? 0) > 0 || raw.impairCut !== undefined;
  if ((touchesMedia || (impairDelayMs ?? 0) > 0) && relay !== "only") {
    throw new UsageError("--impair-loss/--impair-delay/--impair-corrupt/--impair-replay act in front of TURN: add --relay only");
  }
  const turnTransport = oneOf<TurnTransport>("--turn-transport", raw.turnTransport, turnTransports);
  if (touchesMedia && turnTransport === "tls")
    throw new UsageError("--impair-loss/--impair-corrupt/--impair-replay cannot act inside TLS: use --turn-transport udp or tcp");
  const rewrites: Record<string, string> = {};
  for (const r of raw.turnRewrite ?? []) {
    const m = /^(udp|tcp|tls)\/(.+:\d+)=(.+:\d+)$/.exec(r);
    if (!m) throw new UsageError(`--turn-rewrite must look like udp/127.0.0.1:3478=127.0.0.1:4000, got "${r}"`);
    rewrites[`${m[1]}/${m[2]}`] = m[3]!;
  }
  const rampPerSec = num("--ramp", raw.ramp, 0.01, 10_000)!;
  const durationMs = parseDuration(raw.duration);
  if (durationMs < 1000) throw new UsageError(`--duration must be at least 1s, got "${raw.duration}"`);
  const connectTimeoutMs = parseDuration(raw.connectTimeout);
  if (connectTimeoutMs < 1000) throw new UsageError(`--connect-timeout must be at least 1s, got "${raw.connectTimeout}"`);
  const interests = raw.interests
    ? raw.interests
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
  return {
    url: url.toString().replace(/\/$/, ""),
    pairs: raw.peers === undefined ? (raw.pairs ?? defaultPairs) : undefined,
    peers: raw.peers,
    durationMs,
    rampPerSec,
    relay,
    turnTransport,
    interests,
    churnMs: raw.churn ? parseDuration(raw.churn) : null,
    bitrateKbps: raw.bitrate,
    media: oneOf<MediaKind>("--media", raw.media, mediaKinds),
    impairLossPct,
    impairDelayMs,
    impairCorruptPct,
    impairReplayPct,
    impairCutAfterMs: raw.impairCut === undefined ? undefined : parseDuration(raw.impairCut),
    mediaStoppedMs: raw.mediaStopped === undefined ? undefined : parseDuration(raw.mediaStopped),
    dataChannel: raw.dataChannel === true,
    allowOverload: raw.allowOverload === true,
    runId: runIdOption(raw.runId),
    thresholds: {
      minMos: num("--min-mos", raw.minMos, 1, 4.5),
      maxLossPct: num("--max-loss", raw.maxLoss, 0, 100),
      maxSetupMs: num("--max-setup-ms", raw.maxSetupMs, 0, 600_000),
      minConnectedPct: num("--min-connected", raw.minConnected, 0, 100),
    },
    // With a fleet, --workers counts processes; each picks its own threads.
    workers: fleet ? undefined : raw.workers,
    connectTimeoutMs,
    turnRewrites: rewrites,
    jsonFile: typeof raw.json === "string" && raw.json !== "-" ? raw.json : null,
    jsonStdout: raw.json === true || raw.json === "-",
    htmlFile: raw.html ?? null,
    fleet,
    fargate,
  };
}

export function registerBots(program: Command): void {
  const collect = (v: string, prev: string[] = []) => [...prev, v];
  const cmd = program
    .command("bots")
    .description("headless werift peers that join the lobby, get matched, call each other and report call health; exits 1 when a threshold fails")
    .option("--url <url>", "the vchat service, e.g. http://127.0.0.1:8080 (required)")
    .option("--pairs <n>", `bot pairs, 2 bots each (default: ${defaultPairs}; over ${maxLocalPairs} only with --fleet)`, intOption("--pairs", 1, 100_000))
    .option("--peers <n>", "bot users instead of pairs; 1 waits for any partner, e.g. a browser", intOption("--peers", 1, 10000))
    .option("--duration <time>", "how long the run lasts (30s, 10m)", "30s")
    .option("--ramp <per-second>", "bots joining per second", "20")
    .option("--relay <mode>", "auto | only (ICE policy relay, through TURN) | never", "auto")
    .option("--turn-transport <t>", "udp | tcp | tls: which TURN URL the bots use", "udp")
    .option("--interests <list>", "comma-separated interests for lobby:join")
    .option("--churn <time>", "a call lasts this long, then call:next and a new partner")
    .option("--bitrate <kbps>", "media per peer, audio + video", intOption("--bitrate", 16, 20000), 300)
    .option("--media <kind>", "synthetic (measuring payload) | vp8 (real test pattern)", "synthetic")
    .option("--impair-loss <pct>", "drop this percent of media packets in front of TURN (needs --relay only)")
    .option("--impair-delay <ms>", "add this one-way delay in front of TURN (needs --relay only)")
    .option("--impair-corrupt <pct>", "flip a bit in this percent of relayed media packets (needs --relay only)")
    .option("--impair-replay <pct>", "send this percent of relayed media packets twice (needs --relay only)")
    .option("--media-stopped <time>", "a call direction silent this long fails the call (media-stopped)", "3s")
    .option("--data-channel", "also open a data channel in each call and measure RTT by ping over it (the web client opens none)")
    .option("--min-mos <mos>", "fail when the worst 5 % of legs' audio MOS estimate is below this (1–4.5)")
    .option("--allow-overload", "keep a run whose bot host was overloaded valid (exit code from the thresholds only)")
    .option("--json [file]", "write the JSON report to a file; without a file, print it instead of the dashboard")
    .option("--html <file>", "also write a self-contained HTML report: run, summary, thresholds, charts over time")
    .option("--max-loss <pct>", "fail when aggregate media loss exceeds this")
    .option("--max-setup-ms <ms>", "fail when p95 setup (match → first media) exceeds this")
    .option("--min-connected <pct>", "fail when fewer calls than this percent connect", "95")
    .option(
      "--workers <n>",
      "worker threads (0: none; default one per core, one per 100 bots, per 50 with vp8); with --coordinator or --local: worker processes",
      intOption("--workers", 0, 64),
    )
    .option(
      "--coordinator [redis-url]",
      `run over --workers worker processes coordinated in this Redis (redis:// or rediss://; without a URL: ${coordinatorEnv})`,
    )
    .option("--local", "start the --workers worker processes here (and a redis-server when no --coordinator is given)")
    .option("--worker-timeout <time>", "how long to wait for every worker to register", "60s")
    .option("--connect-timeout <time>", "a call not connected by then counts as failed", "20s")
    .option("--fleet <workers>", "run the bots on this many ECS Fargate workers (a vchat-fleet stack, docs/fleet.md)", intOption("--fleet", 1, 1000))
    .option("--stack <name>", "with --fleet: the vchat-fleet stack (one per region)")
    .option("--keep", "with --fleet: leave the fleet up after the run (default: torn down, also on failure and Ctrl-C)")
    .addOption(
      // Calibration: one direction of one call dies mid-call; the run must fail it (media-stopped).
      new Option("--impair-cut <time>", "this long after the first bot's first media packet, drop all of its media (needs --relay only)").hideHelp(),
    )
    .addOption(
      // Bots of two processes calling each other (one per network in the NAT lab) measure each
      // other's media only when they share the run id; media of another run is ignored.
      new Option("--run-id <n>", "measure media from bots of other processes given the same id (1-4294967295)").hideHelp(),
    )
    .addOption(
      // For tests and odd networks: send the TURN traffic for one endpoint somewhere else.
      new Option("--turn-rewrite <from=to>", "replace a TURN endpoint, e.g. udp/127.0.0.1:3478=127.0.0.1:4000").argParser(collect).hideHelp(),
    )
    .action(async (raw: RawOptions) => {
      process.exitCode = await bots(parseBotsOptions(raw));
    });
  registerBotsWorker(cmd);
}

/** What a report needs to be read later on its own: which vchat ran what, against what, when, where. */
export interface RunInfo {
  command: "bots";
  vchat: string;
  node: string;
  url: string;
  options: Record<string, unknown>;
  startedAt: string;
  endedAt: string;
  host: string;
  workers: number;
  interrupted: boolean;
}

export type BotsRunReport = { run: RunInfo } & BotsReport;

/** The options as run, with anything secret-looking replaced: reports get shared. */
export function redactedOptions(opts: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) {
    if (typeof v === "function" || v === undefined || k === "signal") continue;
    out[k] = /secret|password|credential|token/i.test(k) ? "[redacted]" : v;
  }
  // A URL may carry user:password@.
  if (typeof out.url === "string") out.url = out.url.replace(/\/\/[^/@]*@/, "//[redacted]@");
  return out;
}

/** The line that says what is about to happen, before anything does. */
export function startLine(opts: ReturnType<typeof parseBotsOptions>): string {
  const who = opts.peers !== undefined ? `${opts.peers} bots` : `${opts.pairs} pairs (${opts.pairs! * 2} bots)`;
  return `vchat bots: ${who} against ${opts.url} for ${opts.durationMs / 1000}s, relay ${opts.relay}, TURN over ${opts.turnTransport}; Ctrl-C stops early and keeps the report\n`;
}

/**
 * Runs the bots with a live dashboard (TTY) or progress lines, prints the summary, writes the
 * JSON report, returns the exit code. Ctrl-C ends the run early: the report covers what was
 * measured so far and the exit code is 130.
 */
export async function bots(
  opts: ReturnType<typeof parseBotsOptions>,
  io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream } = process,
  fleetDeps?: FleetDeps,
): Promise<number> {
  if (opts.fargate) return botsOnFleet(opts, opts.fargate, io, fleetDeps);
  const stop = interruption(io);
  try {
    return await runAndReport(opts, io, stop);
  } finally {
    stop.dispose();
  }
}

/**
 * `--fleet`: the fleet sized for the plan before anything starts (an impossible size is a usage
 * error), then up, this run's coordinator on the fleet's Redis (the run of `--workers W
 * --coordinator URL`), and down.
 */
async function botsOnFleet(
  opts: ReturnType<typeof parseBotsOptions>,
  fargate: FargateFleet,
  io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream },
  deps: FleetDeps | undefined,
): Promise<number> {
  const [{ fleetSize }, { ConfigError }, { botsFleet }] = await Promise.all([
    import("../../stacks/fleet-size.ts"),
    import("../../stacks/config.ts"),
    import("../fleet.ts"),
  ]);
  let size;
  try {
    size = fleetSize({ calls: opts.pairs!, workers: fargate.workers, media: opts.media ?? "synthetic" });
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const coordinator: CoordinatorRun = ({ coordinatorUrl, workers, stop }) =>
    runAndReport({ ...opts, fleet: { workers, coordinator: coordinatorUrl, local: false, registerTimeoutMs: fargate.registerTimeoutMs } }, io, stop);
  return botsFleet({ stack: fargate.stack, keep: fargate.keep, size, coordinator }, io, deps);
}

async function runAndReport(
  opts: ReturnType<typeof parseBotsOptions>,
  io: { stdout: NodeJS.WriteStream; stderr: NodeJS.WriteStream },
  stop: ReturnType<typeof interruption>,
): Promise<number> {
  io.stderr.write(startLine(opts));
  // Loaded here, not at start-up: werift, socket.io-client and ink cost seconds that
  // `vchat --help` and the other commands should not pay.
  const [{ BotError, runBots }, { render }, React, { BotsDashboard, summaryText }] = await Promise.all([
    import("../../bots/run.ts"),
    import("ink"),
    import("react"),
    import("../ui/bots.ts"),
  ]);
  const h = React.createElement;
  const tty = Boolean(io.stdout.isTTY) && !opts.jsonStdout;
  const live = tty ? render(h(BotsDashboard, { progress: null, url: opts.url }), { stdout: io.stdout, patchConsole: false, exitOnCtrlC: false }) : undefined;
  let lastLine = 0;
  const timeline: Progress[] = [];
  const onProgress = (p: Progress) => {
    timeline.push(p);
    if (live) return live.rerender(h(BotsDashboard, { progress: p, url: opts.url }));
    // Without a terminal: a line every 5 s on stderr, so logs show progress without flooding.
    if (p.elapsedS - lastLine >= 5) {
      lastLine = p.elapsedS;
      io.stderr.write(
        `bots ${p.elapsedS}s: calls up ${p.calls.up} connected ${p.calls.connected} failed ${p.calls.failed}, bots connecting ${p.bots.connecting} waiting ${p.bots.waiting}, setup p95 ${p.setupP95Ms ?? "–"} ms, loss ${p.lossPct ?? "–"} %, cpu ${p.cpuPct} % of one core, lag ${p.loopLagMs} ms` +
          (p.lastError ? `, last error: ${p.lastError}` : "") +
          "\n",
      );
    }
  };
  const startedAt = new Date().toISOString();
  let measured: BotsReport;
  try {
    const { fleet, fargate: _f, jsonFile: _j, jsonStdout: _s, htmlFile: _h, ...botsOpts } = opts;
    measured = fleet
      ? await runFleetFromCli({ ...botsOpts, onProgress, signal: stop.signal }, fleet)
      : await runBots({ ...botsOpts, onProgress, signal: stop.signal });
  } catch (err) {
    if (err instanceof BotError) throw new CliError(err.code, err.message, err.code === "VALIDATION_FAILED" ? exitCodes.usage : exitCodes.failed);
    throw err;
  } finally {
    live?.unmount();
  }
  const { jsonFile, jsonStdout, htmlFile, fleet, ...rest } = opts;
  // The coordinator's URL may hold a password.
  const asRun = fleet ? { ...rest, fleet: { ...fleet, coordinator: fleet.coordinator?.replace(/\/\/[^/@]*@/, "//[redacted]@") ?? null } } : rest;
  const run: RunInfo = {
    command: "bots",
    vchat: vchatVersion,
    node: process.versions.node,
    url: redactedOptions({ url: opts.url }).url as string,
    options: redactedOptions(asRun),
    startedAt,
    endedAt: new Date().toISOString(),
    host: hostname(),
    workers: measured.host.workers,
    interrupted: stop.signal.aborted,
  };
  // A run cut short passes nothing, whatever its figures so far: `pass` is what CI reads.
  const report: BotsRunReport = { run, ...measured, pass: measured.pass && !run.interrupted };
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify(report, null, 2) + "\n");
  if (htmlFile) writeFileSync(htmlFile, (await import("../ui/bots-html.ts")).botsHtml(report, timeline));
  if (jsonStdout) io.stdout.write(JSON.stringify(report) + "\n");
  else io.stdout.write((stop.signal.aborted ? "interrupted: the report covers what was measured so far\n" : "") + summaryText(report));
  return stop.exitCode() ?? (report.pass ? exitCodes.ok : exitCodes.failed);
}
