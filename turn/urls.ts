/**
 * STUN/TURN URIs (RFC 7064 `stun:`/`stuns:`, RFC 7065 `turn:`/`turns:`):
 * `turn:host[:port][?transport=udp|tcp]`, IPv6 hosts in brackets.
 */
import { z } from "zod";
import type { TransportKind } from "./transport.ts";

export const iceSchemes = ["stun", "stuns", "turn", "turns"] as const;
export type IceScheme = (typeof iceSchemes)[number];

export interface IceUrl {
  raw: string;
  scheme: IceScheme;
  host: string;
  port: number;
  /** How we talk to the server: `turns:`/`stuns:` is TLS over TCP. */
  transport: TransportKind;
  isTurn: boolean;
}

export class IceUrlError extends Error {
  readonly code = "BAD_ICE_URL";
  override name = "IceUrlError";
}

export function parseIceUrl(raw: string): IceUrl {
  const m = /^(stuns?|turns?):(\[[0-9a-fA-F:.]+\]|[^:?/[\]\s]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/i.exec(raw.trim());
  if (!m) throw new IceUrlError(`not a STUN/TURN URL: "${raw}" (expected e.g. turn:turn.example.com:3478?transport=udp)`);
  const scheme = m[1]!.toLowerCase() as IceScheme;
  const secure = scheme.endsWith("s");
  const port = m[3] ? Number(m[3]) : secure ? 5349 : 3478;
  if (port < 1 || port > 65535) throw new IceUrlError(`port out of range in "${raw}"`);
  const param = m[4]?.toLowerCase() as "udp" | "tcp" | undefined;
  if (secure && param === "udp") throw new IceUrlError(`"${raw}": TLS runs over TCP; DTLS (transport=udp) is not supported`);
  const transport: TransportKind = secure ? "tls" : (param ?? "udp");
  return { raw: raw.trim(), scheme, host: m[2]!.replace(/^\[|\]$/g, ""), port, transport, isTurn: scheme.startsWith("turn") };
}

/** `parseIceUrl`, or null for a string that is not a STUN/TURN URL. */
export function tryParseIceUrl(raw: string): IceUrl | null {
  try {
    return parseIceUrl(raw);
  } catch {
    return null;
  }
}

/** Why `raw` is not a URL of `kind`, or null when it is one. */
export function iceUrlProblem(raw: string, kind: "stun" | "turn"): string | null {
  let url: IceUrl;
  try {
    url = parseIceUrl(raw);
  } catch (err) {
    return (err as Error).message;
  }
  if (url.isTurn !== (kind === "turn")) return `"${raw}" is a ${url.isTurn ? "TURN" : "STUN"} URL, not a ${kind.toUpperCase()} one`;
  return null;
}

/** A configuration field holding a STUN or TURN URL, checked with `parseIceUrl`. */
export function iceUrlSchema(kind: "stun" | "turn") {
  return z.string().check((ctx) => {
    const problem = iceUrlProblem(ctx.value, kind);
    if (problem) ctx.issues.push({ code: "custom", message: problem, input: ctx.value });
  });
}

/** The URL of a TURN server at `host:port` over `transport` (`turns:` for TLS; IPv6 in brackets). */
export function formatTurnUrl(host: string, port: number, transport: TransportKind): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return transport === "tls" ? `turns:${h}:${port}?transport=tcp` : `turn:${h}:${port}?transport=${transport}`;
}
