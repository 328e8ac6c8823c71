import type { IceResponse, IceServer, IceTransportPolicy } from "../protocol/index.ts";
import type { ServerConfig } from "./config.ts";
import { turnCredentials } from "../turn/credentials.ts";

/**
 * The ICE configuration a user gets from `/api/ice` and in `match:found`: the configured STUN
 * URLs and, when TURN is configured, time-limited TURN credentials bound to the user's id.
 * `relayOnly` keeps only TURN and sets the transport policy to `relay`, so no host or reflexive
 * candidate (no IP address of the user) reaches the peer.
 */
export function iceFor(config: ServerConfig, userId: string, relayOnly = false, nowMs = Date.now()): IceResponse & { iceTransportPolicy: IceTransportPolicy } {
  const iceServers: IceServer[] = [];
  if (!relayOnly && config.stunUrls.length > 0) iceServers.push({ urls: [...config.stunUrls] });
  const ttlSeconds = config.turn?.ttlSeconds ?? 3600;
  if (config.turn) {
    const { username, credential } = turnCredentials(config.turn.secret, userId, ttlSeconds, nowMs);
    iceServers.push({ urls: [...config.turn.urls], username, credential });
  }
  return { iceServers, ttlSeconds, iceTransportPolicy: relayOnly ? "relay" : "all" };
}
