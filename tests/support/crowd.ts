import { io as connect } from "socket.io-client";
import type { MatchFound } from "../../protocol/index.ts";
import { guest, type ClientSocket, type TestUser } from "./client.ts";

/** A user of a crowd: which node they are on, and every match they were told of. */
export interface CrowdUser extends TestUser {
  node: number;
  matches: MatchFound[];
}

/** Runs fn over items with at most `limit` at a time. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/** n guests signed up over REST and connected, spread over the nodes round-robin. */
export async function crowd(urls: string[], n: number, opts: { prefix?: string; concurrency?: number } = {}): Promise<CrowdUser[]> {
  return pool(
    Array.from({ length: n }, (_, i) => i),
    opts.concurrency ?? 25,
    async (i) => {
      const node = i % urls.length;
      const url = urls[node]!;
      const auth = await guest(url, `${opts.prefix ?? "u"}${i}`);
      const socket: ClientSocket = connect(url, { auth: { token: auth.token }, transports: ["websocket"], reconnection: false, forceNew: true });
      const matches: MatchFound[] = [];
      socket.on("match:found", (m) => matches.push(m));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`user ${i} did not connect to ${url}`)), 15_000);
        socket.once("connect", () => (clearTimeout(timer), resolve()));
        socket.once("connect_error", (err) => (clearTimeout(timer), reject(err)));
      });
      return { token: auth.token, id: auth.user.id, nickname: auth.user.nickname, socket, node, matches };
    },
  );
}

/** Resolves once check() holds, or rejects after ms with what describe() says. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${describe()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface PairingReport {
  users: number;
  matchedOnce: number;
  /** Users told of no match, or of more than one. */
  unmatched: string[];
  matchedTwice: string[];
  /** Sessions whose two sides do not name each other, or name themselves. */
  inconsistent: string[];
  sessions: number;
  /** Sessions whose users are on different nodes. */
  crossNode: number;
}

/**
 * Checks the pairing from both sides: each user was told of exactly one match, with someone
 * else, who was told of the same session with them, one offering and one answering.
 */
export function pairingReport(users: CrowdUser[]): PairingReport {
  const byId = new Map(users.map((u) => [u.id, u]));
  const sessions = new Map<string, { userId: string; m: MatchFound }[]>();
  const report: PairingReport = { users: users.length, matchedOnce: 0, unmatched: [], matchedTwice: [], inconsistent: [], sessions: 0, crossNode: 0 };
  for (const u of users) {
    if (u.matches.length === 0) report.unmatched.push(u.nickname);
    else if (u.matches.length > 1) report.matchedTwice.push(u.nickname);
    else report.matchedOnce++;
    for (const m of u.matches) {
      const list = sessions.get(m.sessionId) ?? [];
      list.push({ userId: u.id, m });
      sessions.set(m.sessionId, list);
    }
  }
  for (const [id, sides] of sessions) {
    const [a, b] = sides;
    const ok =
      sides.length === 2 && a!.userId !== b!.userId && a!.m.peer.id === b!.userId && b!.m.peer.id === a!.userId && new Set([a!.m.role, b!.m.role]).size === 2;
    if (!ok) report.inconsistent.push(id);
    else if (byId.get(a!.userId)!.node !== byId.get(b!.userId)!.node) report.crossNode++;
  }
  report.sessions = sessions.size;
  return report;
}
