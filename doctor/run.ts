/**
 * `vchat doctor` as a plain async function: takes a deployment URL or bare TURN servers, runs
 * the checks (in parallel where they are independent, to stay within a few seconds), reports
 * progress through `onUpdate`, and returns the report.
 */
import type { IceServer } from "../protocol/index.ts";
import { turnCredentials } from "../turn/credentials.ts";
import { checkHealth, checkIce, checkSocket, guestToken } from "./api.ts";
import { checkCall, preloadWerift } from "./call.ts";
import { checkExposure } from "./exposure.ts";
import { checkNat } from "./nat.ts";
import { checkRelay } from "./relay.ts";
import { checkIds, checkTitles, type CheckId, type CheckResult, type DoctorReport } from "./report.ts";
import { checkDns, checkStun, checkTurn, type Outcome, type ServerTarget } from "./servers.ts";
import { exitCodeOf, summarize } from "./summary.ts";
import type { TransportKind } from "../turn/transport.ts";
import { parseIceUrl } from "../turn/urls.ts";

export interface DoctorOptions {
  /** The deployment's base URL; its `/api/ice` gives the TURN URLs and credentials. */
  url?: string;
  /** Bare TURN/STUN URLs, instead of or in addition to `url`. */
  turn?: string[];
  /** TURN REST shared secret, to mint credentials for `turn`. */
  secret?: string;
  username?: string;
  credential?: string;
  /** Per network step (one transaction, one connection). @default 3000 */
  timeoutMs?: number;
  /** Run the werift call. @default true */
  call?: boolean;
  /** Probes in the relay burst. @default 20 */
  relayProbes?: number;
  onUpdate?: (checks: CheckResult[]) => void;
}

/** Options that cannot work together or at all; the CLI turns it into exit code 2. */
export class DoctorOptionError extends Error {
  readonly code = "BAD_OPTIONS";
  override name = "DoctorOptionError";
}

export function validateOptions(opts: DoctorOptions): void {
  if (!opts.url && !opts.turn?.length) throw new DoctorOptionError("give --url URL of a deployment or --turn URL of a TURN server");
  if (opts.url) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new DoctorOptionError(`not a URL: "${opts.url}"`);
    }
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new DoctorOptionError(`--url must be http:// or https://, got "${opts.url}"`);
  }
  for (const t of opts.turn ?? []) {
    try {
      parseIceUrl(t);
    } catch (err) {
      throw new DoctorOptionError((err as Error).message);
    }
  }
  if (opts.secret && (opts.username || opts.credential)) throw new DoctorOptionError("use either --secret or --username/--credential, not both");
  if (!!opts.username !== !!opts.credential) throw new DoctorOptionError("--username and --credential go together");
  const needsCreds = (opts.turn ?? []).some((t) => parseIceUrl(t).isTurn);
  if (needsCreds && !opts.secret && !opts.username) throw new DoctorOptionError("turn: URLs need --secret S or --username U --credential C");
}

function targetsFromIce(servers: IceServer[]): ServerTarget[] {
  const out: ServerTarget[] = [];
  for (const s of servers) {
    for (const raw of Array.isArray(s.urls) ? s.urls : [s.urls]) {
      try {
        const url = parseIceUrl(raw);
        out.push({ url, creds: url.isTurn && s.username && s.credential ? { username: s.username, password: s.credential } : undefined });
      } catch {
        // Reported by the ICE check's URL list; an unparseable URL cannot be tested.
      }
    }
  }
  return out;
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  validateOptions(opts);
  const timeoutMs = opts.timeoutMs ?? 3000;
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const results = new Map<CheckId, CheckResult>(checkIds.map((id) => [id, { id, title: checkTitles[id], status: "pending", verdict: "" }]));
  const list = () => checkIds.map((id) => ({ ...results.get(id)! }));
  const emit = () => opts.onUpdate?.(list());
  const set = (id: CheckId, o: Outcome, ms?: number) => {
    results.set(id, { id, title: checkTitles[id], status: o.status, verdict: o.verdict, ms: ms === undefined ? undefined : Math.round(ms), details: o.details });
    emit();
  };
  const timed = async <T extends Outcome>(id: CheckId, fn: () => Promise<T>): Promise<T> => {
    results.set(id, { ...results.get(id)!, status: "running" });
    emit();
    const t0 = performance.now();
    let r: T;
    try {
      r = await fn();
    } catch (err) {
      r = { status: "fail", verdict: `unexpected error: ${(err as Error).message}` } as T;
    }
    set(id, r, performance.now() - t0);
    return r;
  };
  const skip = (ids: CheckId[], verdict: string) => ids.forEach((id) => set(id, { status: "skipped", verdict }));
  emit();
  // Module loading overlaps the API checks instead of delaying the call.
  if (opts.call !== false) preloadWerift().catch(() => {});

  // ---- API ----
  let targets: ServerTarget[] = [];
  if (opts.url) {
    const base = opts.url;
    const tokenP = guestToken(base, timeoutMs);
    const health = timed("api-health", () => checkHealth(base, timeoutMs));
    const noToken = async (): Promise<Outcome | undefined> => {
      const t = await tokenP;
      return t.token ? undefined : { status: "fail", verdict: `cannot log in as a guest (${t.error}), so this cannot be tested` };
    };
    const socket = timed("api-socket", async () => (await noToken()) ?? checkSocket(base, (await tokenP).token, timeoutMs));
    const ice = timed("api-ice", async () => (await noToken()) ?? checkIce(base, (await tokenP).token, timeoutMs));
    await Promise.all([health, socket]);
    const iceR = await ice;
    if ("ice" in iceR && iceR.ice) targets = targetsFromIce(iceR.ice.iceServers);
  } else skip(["api-health", "api-socket", "api-ice"], "no --url: testing a bare TURN server");

  if (opts.turn?.length) {
    const creds = opts.secret
      ? (() => {
          const c = turnCredentials(opts.secret!, "vchat-doctor", 3600);
          return { username: c.username, password: c.credential };
        })()
      : opts.username
        ? { username: opts.username, password: opts.credential! }
        : undefined;
    for (const raw of opts.turn) {
      const url = parseIceUrl(raw);
      targets.push({ url, creds: url.isTurn ? creds : undefined });
    }
  }

  const rest: CheckId[] = ["dns", "stun", "turn-udp", "turn-tcp", "turn-tls", "relay", "call", "nat", "exposure"];
  if (targets.length === 0) {
    skip(rest, "no STUN/TURN URL to test");
  } else {
    const dns = await timed("dns", () => checkDns(targets, timeoutMs));
    const ipOf = (t?: ServerTarget) => (t ? dns.resolved.get(t.url.host) : undefined);
    const udpTarget = targets.find((t) => t.url.transport === "udp");
    const turnOf = (kind: TransportKind) => targets.find((t) => t.url.isTurn && t.url.transport === kind);

    const stun = timed("stun", () => checkStun(udpTarget, ipOf(udpTarget), timeoutMs));
    const turnChecks = (["udp", "tcp", "tls"] as const).map((kind) =>
      timed(`turn-${kind}` as CheckId, () => checkTurn(turnOf(kind), kind, ipOf(turnOf(kind)), timeoutMs)).then((r) => ({ kind, r })),
    );
    const nat = timed("nat", () => {
      const ip = ipOf(udpTarget);
      return checkNat(udpTarget && ip ? { host: ip, port: udpTarget.url.port } : undefined, timeoutMs);
    });
    const turns = await Promise.all(turnChecks);
    // The relay, the call and the exposure check use the best working transport: UDP, then TCP, then TLS.
    const best = turns.find((t) => t.r.status === "pass" || t.r.status === "warn");
    const bestTarget = best ? turnOf(best.kind) : undefined;
    const relay = timed("relay", () => checkRelay(bestTarget, ipOf(bestTarget), { timeoutMs, count: opts.relayProbes }));
    const exposure = timed("exposure", () => checkExposure(bestTarget, ipOf(bestTarget), timeoutMs));
    const call =
      opts.call === false
        ? Promise.resolve(skip(["call"], "turned off with --no-call"))
        : timed("call", async () => {
            if (!bestTarget?.creds) return checkCall(undefined);
            // A server that refuses relaying to its own non-public relay addresses cannot carry a
            // call between two peers on this machine; the relay check says why, and the call stops.
            const stop = new AbortController();
            void relay.then((r) => r.status === "skipped" && stop.abort(r.verdict));
            const outcome = await checkCall({
              iceServer: { urls: bestTarget.url.raw, username: bestTarget.creds.username, credential: bestTarget.creds.password },
              timeoutMs: Math.max(timeoutMs, 5000),
              signal: stop.signal,
            });
            if (outcome.status === "fail" && (await relay).status === "skipped") return { status: "skipped" as const, verdict: (await relay).verdict };
            return outcome;
          });
    await Promise.all([stun, nat, relay, exposure, call]);
  }

  const checks = list();
  const summary = summarize(checks);
  return {
    target: opts.url ?? (opts.turn ?? []).join(" "),
    startedAt,
    ms: Math.round(performance.now() - started),
    checks,
    summary,
    exitCode: exitCodeOf(checks, summary),
  };
}
