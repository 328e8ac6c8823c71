/**
 * The STUN/TURN side of the doctor: which servers to test with which credentials, DNS and
 * reachability, the STUN binding, and a TURN allocation per transport.
 */
import { lookup } from "node:dns/promises";
import dgram from "node:dgram";
import net from "node:net";
import { attr, message, methods, readAddress, readString, readXorAddress, type TransportAddress } from "../turn/stun.ts";
import { StunSocket, TransportError, type TransportKind } from "../turn/transport.ts";
import { TurnAllocation, TurnError, describeError, type AuthStep, type TurnCredentials } from "../turn/client.ts";
import type { IceUrl } from "../turn/urls.ts";
import type { CheckResult } from "./report.ts";

export type Outcome = Pick<CheckResult, "status" | "verdict" | "details">;

export interface ServerTarget {
  url: IceUrl;
  creds?: TurnCredentials;
}

export const software = "vchat-doctor";

/** Resolves a host name; IPv4 first, as most TURN deployments relay IPv4. */
export async function resolveHost(host: string): Promise<string[]> {
  if (net.isIP(host)) return [host];
  const all = await lookup(host, { all: true });
  return all.sort((a, b) => a.family - b.family).map((a) => a.address);
}

export function isLoopback(ip: string): boolean {
  return /^127\./.test(ip) || ip === "::1" || /^::ffff:127\./i.test(ip);
}

/** The local address the OS picks towards a host (no packet is sent: UDP connect only routes). */
export async function localAddressTowards(ip: string, port: number): Promise<string | undefined> {
  const sock = dgram.createSocket(net.isIPv6(ip) ? "udp6" : "udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once("error", reject);
      sock.connect(port, ip, () => resolve());
    });
    return sock.address().address;
  } catch {
    return undefined;
  } finally {
    sock.close();
  }
}

export function transportWords(err: unknown): string {
  if (err instanceof TransportError) {
    if (err.code === "TIMEOUT") return `${err.message}: a firewall may block it or nothing listens`;
    if (err.code === "REFUSED") return "connection refused: nothing listens on that port";
    return err.message;
  }
  return (err as Error).message;
}

/** DNS resolution and a first contact with every URL (a Binding over UDP, a connection over TCP/TLS). */
export async function checkDns(targets: ServerTarget[], timeoutMs: number): Promise<Outcome & { resolved: Map<string, string> }> {
  const resolved = new Map<string, string>();
  const rows = await Promise.all(
    targets.map(async (t) => {
      const row: Record<string, unknown> = { url: t.url.raw };
      let ip: string;
      try {
        const start = performance.now();
        const ips = await resolveHost(t.url.host);
        row.dnsMs = Math.round(performance.now() - start);
        row.addresses = ips;
        ip = ips[0]!;
        resolved.set(t.url.host, ip);
      } catch (err) {
        row.ok = false;
        row.error = `the name ${t.url.host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
        return row;
      }
      try {
        const start = performance.now();
        const sock = await StunSocket.open(t.url.transport, { host: ip, port: t.url.port, servername: t.url.host, timeoutMs });
        try {
          if (t.url.transport === "udp") await sock.request(message(methods.binding, "request"), { timeoutMs, encode: { fingerprint: true } });
        } finally {
          sock.close();
        }
        row.reachMs = Math.round(performance.now() - start);
        row.ok = true;
      } catch (err) {
        row.ok = false;
        row.error = `${t.url.raw}: ${transportWords(err)}`;
      }
      return row;
    }),
  );
  const bad = rows.filter((r) => !r.ok);
  const details = { urls: rows };
  if (bad.length === rows.length) return { resolved, status: "fail", verdict: `no STUN/TURN URL is reachable: ${bad[0]?.error}`, details };
  if (bad.length) return { resolved, status: "warn", verdict: `${bad.length} of ${rows.length} URLs unreachable: ${bad.map((b) => b.error).join("; ")}`, details };
  return { resolved, status: "pass", verdict: `all ${rows.length} URL(s) resolve and answer`, details };
}

function same(a?: TransportAddress, b?: TransportAddress): boolean {
  return !!a && !!b && a.address === b.address && a.port === b.port;
}

/**
 * Binding over UDP (RFC 8489 §7): the reflexive address, the RTT (median of three) and ALG
 * detection: an ALG that rewrites addresses in payloads changes MAPPED-ADDRESS, but cannot
 * recognise the XORed form, so the two differ.
 */
export async function checkStun(target: ServerTarget | undefined, ip: string | undefined, timeoutMs: number): Promise<Outcome & { reflexive?: TransportAddress; local?: string }> {
  if (!target || !ip) return { status: "skipped", verdict: "no STUN or TURN URL over UDP to ask" };
  let sock: StunSocket;
  try {
    sock = await StunSocket.open("udp", { host: ip, port: target.url.port, timeoutMs });
  } catch (err) {
    return { status: "fail", verdict: transportWords(err) };
  }
  try {
    const rtts: number[] = [];
    let xor: TransportAddress | undefined;
    let plain: TransportAddress | undefined;
    let serverSoftware: string | undefined;
    for (let i = 0; i < 3; i++) {
      const { res, rttMs } = await sock.request(message(methods.binding, "request"), { timeoutMs, encode: { fingerprint: true } });
      rtts.push(rttMs);
      xor = readXorAddress(res, attr.xorMappedAddress);
      plain = readAddress(res, attr.mappedAddress);
      serverSoftware = readString(res, attr.software);
    }
    rtts.sort((a, b) => a - b);
    const rtt = Math.round(rtts[1]! * 10) / 10;
    const local = await localAddressTowards(ip, target.url.port);
    const details: Record<string, unknown> = { server: target.url.raw, reflexive: xor, mapped: plain, rttMs: rtt, localAddress: local, localPort: sock.local.port, software: serverSoftware };
    if (!xor) return { status: "fail", verdict: "the server answered without XOR-MAPPED-ADDRESS", details };
    const behindNat = xor.address !== local || xor.port !== sock.local.port;
    details.behindNat = behindNat;
    if (plain && !same(plain, xor)) {
      details.alg = true;
      return {
        status: "warn",
        reflexive: xor,
        local,
        verdict: `a router rewrites addresses in packets (ALG: MAPPED ${plain.address}:${plain.port} ≠ XOR-MAPPED ${xor.address}:${xor.port}); turn off "SIP ALG" on it if calls fail`,
        details,
      };
    }
    details.alg = false;
    const algNote = plain ? "no ALG" : "ALG not testable (no MAPPED-ADDRESS)";
    return {
      status: "pass",
      reflexive: xor,
      local,
      verdict: `your public address is ${xor.address}:${xor.port}${behindNat ? " (behind NAT)" : " (no NAT)"}, RTT ${rtt} ms, ${algNote}`,
      details,
    };
  } catch (err) {
    return { status: "fail", verdict: `no STUN answer over UDP: ${transportWords(err)}` };
  } finally {
    sock.close();
  }
}

/** Opens a socket and allocates; the caller closes the allocation. */
export async function openAllocation(target: ServerTarget, ip: string, timeoutMs: number, family?: 4 | 6): Promise<TurnAllocation> {
  const sock = await StunSocket.open(target.url.transport, { host: ip, port: target.url.port, servername: target.url.host, timeoutMs });
  try {
    return await TurnAllocation.allocate(sock, target.creds!, { timeoutMs, software, family });
  } catch (err) {
    sock.close();
    throw err;
  }
}

/** Why an authentication failed, in words; `category` is "authentication" for credential problems. */
export function classifyAllocateError(err: unknown, creds: TurnCredentials | undefined, nowMs = Date.now()): { category: string; verdict: string; code?: number } {
  if (err instanceof TurnError) {
    const code = err.code;
    if (code === 401) {
      const expiry = Number(/^(\d+):/.exec(creds?.username ?? "")?.[1]);
      if (Number.isFinite(expiry) && expiry * 1000 < nowMs) {
        return {
          category: "authentication",
          code,
          verdict: `authentication failed: the credentials expired ${new Date(expiry * 1000).toISOString()} (TURN REST user names carry their expiry); fetch fresh ones`,
        };
      }
      return {
        category: "authentication",
        code,
        verdict: "authentication failed: wrong user name or password (with TURN REST: the API's and coturn's shared secrets differ)",
      };
    }
    if (code === 437 || code === 441) return { category: "authentication", code, verdict: `authentication failed: ${describeError(code)}` };
    if (code === 486 || code === 508) return { category: "capacity", code, verdict: `allocation refused: ${describeError(code)}` };
    return { category: "protocol", code, verdict: `allocation refused: ${code} ${err.reason} — ${describeError(code, err.reason)}` };
  }
  return { category: "network", verdict: transportWords(err) };
}

/**
 * One transport: connect (with the TLS certificate judged), Allocate (authentication steps),
 * Refresh, and a CreatePermission for the relayed address itself (a harmless peer: it is the
 * server's own relay port).
 */
export async function checkTurn(target: ServerTarget | undefined, kind: TransportKind, ip: string | undefined, timeoutMs: number): Promise<Outcome> {
  if (!target) return { status: "skipped", verdict: `no TURN URL over ${kind.toUpperCase()} is configured` };
  if (!target.creds) return { status: "skipped", verdict: "no TURN credentials given" };
  if (!ip) return { status: "fail", verdict: `${target.url.host} does not resolve` };
  const details: Record<string, unknown> = { url: target.url.raw };
  const connectStart = performance.now();
  let sock: StunSocket;
  try {
    sock = await StunSocket.open(kind, { host: ip, port: target.url.port, servername: target.url.host, timeoutMs });
  } catch (err) {
    return { status: "fail", verdict: `cannot reach ${target.url.raw}: ${transportWords(err)}`, details: { ...details, category: "network" } };
  }
  details.connectMs = kind === "udp" ? undefined : Math.round(performance.now() - connectStart);
  const notes: string[] = [];
  let warn = false;
  if (sock.tlsInfo) {
    const t = sock.tlsInfo;
    details.tls = t;
    if (t.daysLeft !== undefined && t.daysLeft < 0) {
      sock.close();
      return { status: "fail", verdict: `the TLS certificate expired on ${t.validTo}: clients refuse TURN over TLS`, details };
    }
    if (t.selfSigned) {
      warn = true;
      notes.push("self-signed certificate: browsers will not trust TURN over TLS");
    } else if (!t.authorized) {
      warn = true;
      notes.push(`certificate not trusted (${t.authorizationError})`);
    }
    if (t.daysLeft !== undefined && t.daysLeft < 14) {
      warn = true;
      notes.push(`certificate expires in ${t.daysLeft} days`);
    } else if (t.authorized) notes.push(`certificate valid for ${t.daysLeft} more days`);
  }
  let alloc: TurnAllocation;
  try {
    alloc = await TurnAllocation.allocate(sock, target.creds, { timeoutMs, software });
  } catch (err) {
    sock.close();
    const c = classifyAllocateError(err, target.creds);
    const steps = (err as { authSteps?: AuthStep[] }).authSteps;
    return { status: "fail", verdict: [c.verdict, ...notes].join("; "), details: { ...details, category: c.category, code: c.code, authSteps: steps } };
  }
  try {
    details.authSteps = alloc.authSteps;
    details.relayed = alloc.relayed;
    details.reflexive = alloc.mapped;
    details.lifetime = alloc.lifetime;
    details.allocateMs = Math.round(alloc.allocateRttMs * 10) / 10;
    details.software = alloc.software;
    const challenged = alloc.authSteps[0]?.code === 401;
    try {
      details.refreshedLifetime = await alloc.refresh(600);
    } catch (err) {
      warn = true;
      notes.push(`refresh failed (${(err as Error).message}): calls longer than ${alloc.lifetime} s would drop`);
    }
    try {
      await alloc.createPermission([alloc.relayed]);
      details.permission = "granted";
    } catch (err) {
      if (err instanceof TurnError && err.code === 403 && !isPublic(alloc.relayed.address)) {
        // A production config refuses its own non-public relay address; nothing is wrong.
        details.permission = "refused for the non-public relayed address (expected with production settings)";
      } else {
        warn = true;
        details.permission = (err as Error).message;
        notes.push(`CreatePermission failed: ${(err as Error).message}`);
      }
    }
    const verdict = [
      `relayed address ${alloc.relayed.address}:${alloc.relayed.port}, lifetime ${alloc.lifetime} s${challenged ? ", 401 challenge then success" : ""}, allocated in ${details.allocateMs} ms`,
      ...notes,
    ].join("; ");
    return { status: warn ? "warn" : "pass", verdict, details };
  } finally {
    await alloc.close();
  }
}

/** Public unicast address: not loopback, private, link-local, CGNAT, unspecified or documentation. */
export function isPublic(ip: string): boolean {
  if (net.isIPv4(ip)) {
    const [a, b] = ip.split(".").map(Number) as [number, number];
    if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
    if (a === 169 && b === 254) return false;
    if (a === 172 && b >= 16 && b <= 31) return false;
    if (a === 192 && b === 168) return false;
    if (a === 100 && b >= 64 && b <= 127) return false;
    return true;
  }
  const l = ip.toLowerCase();
  return !(l === "::" || l === "::1" || l.startsWith("fe8") || l.startsWith("fe9") || l.startsWith("fea") || l.startsWith("feb") || l.startsWith("fc") || l.startsWith("fd") || l.startsWith("::ffff:"));
}

/** coturn's version from its SOFTWARE attribute ("Coturn-4.6.1 'Gorst'"), or undefined. */
export function coturnVersion(software: string | undefined): [number, number, number] | undefined {
  const m = /coturn-(\d+)\.(\d+)\.(\d+)/i.exec(software ?? "");
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}
