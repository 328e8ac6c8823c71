/**
 * ICE configuration helpers: choosing the TURN URL a bot uses and pointing TURN URLs at an
 * impairment proxy or another server.
 */
import type { IceServer } from "../protocol/index.ts";
import { formatTurnUrl, tryParseIceUrl, type IceUrl } from "../turn/urls.ts";
import { transportKinds, type TransportKind } from "../turn/transport.ts";

export const turnTransports = transportKinds;
export type TurnTransport = TransportKind;

function urlsOf(server: IceServer): string[] {
  return Array.isArray(server.urls) ? server.urls : [server.urls];
}

/** The ICE server entry narrowed to the one TURN URL matching `transport`, or null. */
export function pickTurnUrl(servers: IceServer[], transport: TurnTransport): { url: string; server: IceServer } | null {
  for (const server of servers) {
    for (const url of urlsOf(server)) {
      const parsed = tryParseTurnUrl(url);
      if (parsed && parsed.transport === transport) return { url, server: { ...server, urls: url } };
    }
  }
  return null;
}

/**
 * The STUN URL a peer should use: the first `stun:` URL, else one made from the first TURN URL
 * over UDP. Browsers do the latter themselves (libwebrtc uses every UDP TURN server as a STUN
 * server too); werift does not, and without a server-reflexive candidate two peers behind
 * cone NATs fall back to relay where browsers connect directly (tests/natlab-ice.test.ts).
 * `fromTurn: false` keeps to configured STUN URLs.
 */
export function stunUrlOf(servers: IceServer[], opts: { fromTurn: boolean } = { fromTurn: true }): string | null {
  const urls = servers.flatMap(urlsOf);
  const stun = urls.find((u) => /^stuns?:/i.test(u));
  if (stun || !opts.fromTurn) return stun ?? null;
  for (const url of urls) {
    const t = tryParseTurnUrl(url);
    if (t?.transport === "udp") return `stun:${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`;
  }
  return null;
}

export type TurnUrl = Pick<IceUrl, "host" | "port" | "transport">;

/** host, port and transport of a `turn:`/`turns:` URL (RFC 7065). */
export function parseTurnUrl(url: string): TurnUrl {
  const parsed = tryParseTurnUrl(url);
  if (!parsed) throw new Error(`not a TURN URL: ${url}`);
  return parsed;
}

function tryParseTurnUrl(url: string): TurnUrl | null {
  const parsed = tryParseIceUrl(url);
  return parsed?.isTurn ? { host: parsed.host, port: parsed.port, transport: parsed.transport } : null;
}

/** Key of a TURN endpoint in a rewrite map: `transport/host:port`. */
export function turnKey(t: TurnUrl): string {
  return `${t.transport}/${t.host}:${t.port}`;
}

/**
 * Returns `servers` with every TURN URL whose endpoint is in `rewrites` pointed at the new
 * `host:port` (scheme and transport kept). Credentials are untouched.
 */
export function rewriteTurnUrls(servers: IceServer[], rewrites: Record<string, string>): IceServer[] {
  if (Object.keys(rewrites).length === 0) return servers;
  return servers.map((server) => {
    const urls = urlsOf(server).map((url) => {
      const t = tryParseTurnUrl(url);
      const to = t && rewrites[turnKey(t)];
      if (!t || !to) return url;
      const host = to.replace(/:(\d+)$/, "").replace(/^\[|\]$/g, "");
      return formatTurnUrl(host, Number(/:(\d+)$/.exec(to)?.[1]), t.transport);
    });
    return { ...server, urls };
  });
}

/** All TURN endpoints named in `servers`. */
export function turnEndpoints(servers: IceServer[]): TurnUrl[] {
  const out = new Map<string, TurnUrl>();
  for (const s of servers) for (const url of urlsOf(s)) {
    const t = tryParseTurnUrl(url);
    if (t) out.set(turnKey(t), t);
  }
  return [...out.values()];
}
