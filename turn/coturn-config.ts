/**
 * The one generator of coturn's configuration. `vchat dev` runs its output on loopback, the
 * cloud stacks render it into the TURN instances' user data, and the tests start a real
 * coturn with it, so local runs exercise the production settings.
 *
 * Settings follow coturn's `turnserver.conf` (4.6+). TURN REST auth: `use-auth-secret` +
 * `static-auth-secret` (draft-uberti-behave-turn-rest), credentials from `turnCredentials`.
 */

/** Peer ranges a relay must never reach: RFC 6890 special-purpose, private, loopback, link-local. */
export const deniedPeerRanges = [
  "0.0.0.0-0.255.255.255",
  "10.0.0.0-10.255.255.255",
  "100.64.0.0-100.127.255.255",
  "127.0.0.0-127.255.255.255",
  "169.254.0.0-169.254.255.255",
  "172.16.0.0-172.31.255.255",
  "192.0.0.0-192.0.0.255",
  "192.0.2.0-192.0.2.255",
  "192.88.99.0-192.88.99.255",
  "192.168.0.0-192.168.255.255",
  "198.18.0.0-198.19.255.255",
  "198.51.100.0-198.51.100.255",
  "203.0.113.0-203.0.113.255",
  "240.0.0.0-255.255.255.255",
  // Loopback. Not `::` or the range `::-::ffff`: coturn 4.6.1 matches every IPv4 peer against
  // them ("A peer IP 8.8.8.8 denied in the range: ::-::ffff") and refuses all relays; `::` is
  // no address a peer can have anyway.
  "::1",
  // IPv4-mapped and IPv4-translated IPv6: without these a peer like ::ffff:127.0.0.1 slips past
  // the IPv4 rules on coturn < 4.9 (CVE-2026-27624).
  "::ffff:0.0.0.0-::ffff:255.255.255.255",
  "64:ff9b::-64:ff9b::ffff:ffff",
  "64:ff9b:1::-64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
  "100::-100::ffff:ffff:ffff:ffff",
  "2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
  "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  "fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
] as const;

/** The loopback entries, dropped from the deny list only in local mode. */
const loopbackRanges = new Set<string>(["127.0.0.0-127.255.255.255", "::1", "::ffff:0.0.0.0-::ffff:255.255.255.255"]);

export interface CoturnOptions {
  /**
   * `production` denies every private and loopback peer. `local` additionally allows loopback
   * peers, which two peers on one machine need; never use it on a reachable host.
   * @default "production"
   */
  mode?: "production" | "local";
  /** TURN REST shared secret (`static-auth-secret`). */
  secret: string;
  /** @default "vchat" */
  realm?: string;
  /** Addresses to listen on; coturn listens on all when empty. */
  listeningIps?: string[];
  /** @default 3478 */
  listeningPort?: number;
  /** TLS port; TLS is enabled only when `tls` is given. @default 5349 */
  tlsListeningPort?: number;
  /** Extra TLS port, commonly 443 for networks that only let HTTPS out. */
  altTlsListeningPort?: number;
  tls?: { certFile: string; keyFile: string };
  /** Public address behind 1:1 NAT, `public` or `public/private` (cloud instances). */
  externalIp?: string;
  relayIps?: string[];
  /** Relay port range. @default 49152-65535 */
  minPort?: number;
  maxPort?: number;
  /** Extra ranges to deny, e.g. the VPC CIDR as `10.0.0.0-10.0.255.255`. */
  extraDeniedPeerRanges?: string[];
  /**
   * Peers allowed although a denied range holds them (coturn's `allowed-peer-ip` wins over
   * `denied-peer-ip`): the server's own address for `vchat dev --host`, a NAT lab's ranges.
   */
  allowedPeerIps?: string[];
  /** Allocations per user name. @default 12 */
  userQuota?: number;
  /** Allocations on the whole server. @default 10000 */
  totalQuota?: number;
  /** Bytes per second per session (`max-bps`); 0 is unlimited. @default 0 */
  maxBps?: number;
  /** Bytes per second for all sessions together (`bps-capacity`); 0 is unlimited. @default 0 */
  bpsCapacity?: number;
  /**
   * Relay TCP to peers (RFC 6062 allocations). Off, any credential holder could open TCP
   * connections to any public host from the server's address; WebRTC never asks for it.
   * @default false
   */
  allowTcpRelay?: boolean;
  noUdp?: boolean;
  /** Answer RFC 5780 NAT behaviour discovery; coturn needs two `listeningIps` for it. @default false */
  rfc5780?: boolean;
  noTcp?: boolean;
  /** Where coturn keeps its state; each instance needs its own (the defaults are shared). */
  userdbFile?: string;
  pidFile?: string;
  /** @default "stdout" */
  logFile?: string;
  verbose?: boolean;
}

/** Renders `turnserver.conf`. Pure: same options, same text. */
export function coturnConfig(opts: CoturnOptions): string {
  const mode = opts.mode ?? "production";
  if (!opts.secret || /\s/.test(opts.secret)) throw new Error("coturn: secret must be a non-empty string without spaces");
  const lines: string[] = [];
  const set = (key: string, value?: string | number) => lines.push(value === undefined ? key : `${key}=${value}`);

  for (const ip of opts.listeningIps ?? []) set("listening-ip", ip);
  set("listening-port", opts.listeningPort ?? 3478);
  if (opts.tls) {
    set("tls-listening-port", opts.tlsListeningPort ?? 5349);
    if (opts.altTlsListeningPort) set("alt-tls-listening-port", opts.altTlsListeningPort);
    set("cert", opts.tls.certFile);
    set("pkey", opts.tls.keyFile);
    set("no-tlsv1");
    set("no-tlsv1_1");
    set("no-dtls");
  } else {
    set("no-tls");
    set("no-dtls");
  }
  if (opts.noUdp) set("no-udp");
  if (opts.noTcp) set("no-tcp");
  if (opts.externalIp) set("external-ip", opts.externalIp);
  for (const ip of opts.relayIps ?? []) set("relay-ip", ip);
  set("min-port", opts.minPort ?? 49152);
  set("max-port", opts.maxPort ?? 65535);

  set("fingerprint");
  set("use-auth-secret");
  set("static-auth-secret", opts.secret);
  set("realm", opts.realm ?? "vchat");
  set("user-quota", opts.userQuota ?? 12);
  set("total-quota", opts.totalQuota ?? 10000);
  set("max-bps", opts.maxBps ?? 0);
  set("bps-capacity", opts.bpsCapacity ?? 0);
  if (!opts.allowTcpRelay) set("no-tcp-relay");
  set("stale-nonce", 600);

  set("no-multicast-peers");
  // coturn refuses loopback peers unless told otherwise; local mode needs them for two peers on one machine.
  if (mode === "local") set("allow-loopback-peers");
  for (const range of deniedPeerRanges) {
    if (mode === "local" && loopbackRanges.has(range)) continue;
    set("denied-peer-ip", range);
  }
  for (const range of opts.extraDeniedPeerRanges ?? []) set("denied-peer-ip", range);
  for (const range of opts.allowedPeerIps ?? []) set("allowed-peer-ip", range);

  set("no-cli");
  // RFC 5780 NAT discovery answers from a second address: useful for `vchat doctor`, but it
  // widens what the server reflects, so it is off unless asked for.
  if (!opts.rfc5780) set("no-rfc5780");
  if (opts.userdbFile) set("userdb", opts.userdbFile);
  if (opts.pidFile) set("pidfile", opts.pidFile);
  set("log-file", opts.logFile ?? "stdout");
  set("simple-log");
  if (opts.verbose) set("verbose");
  return lines.join("\n") + "\n";
}
