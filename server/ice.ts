import type { IceResponse, IceServer, IceTransportPolicy } from "../protocol/index.ts";
import type { ServerConfig } from "./config.ts";
import { turnCredentials } from "../turn/credentials.ts";

/**
 * The ICE configuration a user gets from `/api/ice` and in `match:found`: the configured STUN
 * URLs and, when TURN is configured, time-limited TURN credentials bound to the user's id.
 * `relayOnly` keeps only TURN and sets the transport policy to `relay`, so no host or reflexive
 * candidate (no IP address of the user) reaches the peer.
 *
 * The TURN user name is the same for every request of a user within one window of `ttlSeconds`:
 * the expiry is the end of the window after the current one. coturn's per-user quota counts
 * allocations per user name, so a new name per request would lift it. Credentials therefore
 * stay valid between `ttlSeconds` and twice that; `ttlSeconds` in the answer is what is left.
 */
export function iceFor(config: ServerConfig, userId: string, relayOnly = false, nowMs = Date.now()): IceResponse & { iceTransportPolicy: IceTransportPolicy } {
  const iceServers: IceServer[] = [];
  if (!relayOnly && config.stunUrls.length > 0) iceServers.push({ urls: [...config.stunUrls] });
  let ttlSeconds = config.turn?.ttlSeconds ?? 3600;
  if (config.turn) {
    const window = config.turn.ttlSeconds;
    const windowEnd = (Math.floor(nowMs / 1000 / window) + 1) * window;
    const { username, credential, expiresAt } = turnCredentials(config.turn.secret, userId, window, windowEnd * 1000);
    iceServers.push({ urls: [...config.turn.urls], username, credential });
    ttlSeconds = expiresAt - Math.floor(nowMs / 1000);
  }
  return { iceServers, ttlSeconds, iceTransportPolicy: relayOnly ? "relay" : "all" };
}
