import { z } from "zod";
import { limits } from "./limits.ts";
import type { AckFn, ErrorBody } from "./errors.ts";
import { id, iceServer, iceTransportPolicies, interests, peer, refuse } from "./common.ts";
import { chatProblem, normaliseChat } from "./text.ts";

// ---- client → server ------------------------------------------------------------------

export const lobbyJoin = z.object({
  interests: interests.optional(),
  /** Ask for relay-only ICE for both peers of the call, so neither sees the other's IP. */
  relayOnly: z.boolean().optional(),
});
export type LobbyJoin = z.infer<typeof lobbyJoin>;

export const sdpTypes = ["offer", "answer", "pranswer", "rollback"] as const;
export const description = z.object({
  type: z.enum(sdpTypes),
  sdp: z.string().max(limits.sdpMax),
});
export type Description = z.infer<typeof description>;

/** `RTCIceCandidateInit`; `null` is end-of-candidates. */
export const candidate = z
  .object({
    candidate: z.string().max(limits.candidateMax),
    sdpMid: z.string().max(64).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(255).nullable().optional(),
    usernameFragment: z.string().max(256).nullable().optional(),
  })
  .nullable();
export type Candidate = z.infer<typeof candidate>;

export const signal = z
  .object({ sessionId: id, description: description.optional(), candidate: candidate.optional() })
  .refine((s) => s.description !== undefined || s.candidate !== undefined, {
    message: "a signal carries a description or a candidate",
  });
export type Signal = z.infer<typeof signal>;

export const chatSend = z.object({
  sessionId: id,
  /** See `text.ts` for what a message may contain. */
  text: z.string().overwrite(normaliseChat).min(1).max(limits.chatTextMax).superRefine(refuse(chatProblem)),
});
export type ChatSend = z.infer<typeof chatSend>;

export const chatTyping = z.object({ sessionId: id, typing: z.boolean() });
export type ChatTyping = z.infer<typeof chatTyping>;

export const sessionRef = z.object({ sessionId: id });
export type SessionRef = z.infer<typeof sessionRef>;

export const candidateTypes = ["host", "srflx", "prflx", "relay"] as const;
export const transports = ["udp", "tcp", "tls"] as const;

/** Client-side call quality, stored with the session. Known fields are typed; a few extras are allowed. */
export const callStats = z
  .object({
    setupMs: z.number().nonnegative().optional(),
    iceMs: z.number().nonnegative().optional(),
    dtlsMs: z.number().nonnegative().optional(),
    firstMediaMs: z.number().nonnegative().optional(),
    localCandidateType: z.enum(candidateTypes).optional(),
    remoteCandidateType: z.enum(candidateTypes).optional(),
    transport: z.enum(transports).optional(),
    lossPct: z.number().min(0).max(100).optional(),
    jitterMs: z.number().nonnegative().optional(),
    oneWayDelayMs: z.number().optional(),
    rttMs: z.number().nonnegative().optional(),
    bitrateKbps: z.number().nonnegative().optional(),
    freezes: z.number().int().nonnegative().optional(),
    packetsReceived: z.number().int().nonnegative().optional(),
    packetsLost: z.number().int().optional(),
    framesDecoded: z.number().int().nonnegative().optional(),
    bytesReceived: z.number().int().nonnegative().optional(),
    bytesSent: z.number().int().nonnegative().optional(),
    failure: z.string().max(200).optional(),
  })
  .catchall(z.union([z.number(), z.string().max(200), z.boolean(), z.null()]))
  .refine((s) => Object.keys(s).length <= limits.statsKeysMax, { message: "too many stats" })
  .refine((s) => JSON.stringify(s).length <= limits.statsBytesMax, { message: `stats above ${limits.statsBytesMax} bytes` });
export type CallStats = z.infer<typeof callStats>;

export const callStatsEvent = z.object({ sessionId: id, stats: callStats });
export type CallStatsEvent = z.infer<typeof callStatsEvent>;

// ---- server → client ------------------------------------------------------------------

export const roles = ["offerer", "answerer"] as const;
export type Role = (typeof roles)[number];

export const matchFound = z.object({
  sessionId: id,
  role: z.enum(roles),
  peer,
  iceServers: z.array(iceServer),
  /** `relay` when either side asked for `relayOnly`. */
  iceTransportPolicy: z.enum(iceTransportPolicies),
  sharedInterests: z.array(z.string()),
});
export type MatchFound = z.infer<typeof matchFound>;

export const chatMessage = z.object({
  sessionId: id,
  id,
  from: id,
  text: z.string(),
  at: z.string(),
});
export type ChatMessage = z.infer<typeof chatMessage>;

/**
 * Why a call ended, as told to the peer that stays. `server-restart` is only ever stored: a
 * node closes at start-up the calls that a crash left open.
 */
export const endReasons = ["ended", "next", "disconnected", "blocked", "server-shutdown", "server-restart"] as const;
export type EndReason = (typeof endReasons)[number];

export const callEnded = z.object({ sessionId: id, reason: z.enum(endReasons) });
export type CallEnded = z.infer<typeof callEnded>;

/**
 * Why the server took a socket out of the lobby without being asked: `replaced` when the same
 * user joined from another socket (a second tab), which now holds the place in the queue.
 */
export const lobbyLeftReasons = ["replaced"] as const;
export const lobbyLeft = z.object({ reason: z.enum(lobbyLeftReasons) });
export type LobbyLeft = z.infer<typeof lobbyLeft>;

/**
 * Why the server closes a socket on its own: the token ran out, or the account was banned or
 * deleted. Sent as `auth:revoked` just before the server disconnects the socket; a client should
 * not reconnect with the same token.
 */
export const revokeReasons = ["token-expired", "banned", "account-deleted"] as const;
export type RevokeReason = (typeof revokeReasons)[number];

export const authRevoked = z.object({
  reason: z.enum(revokeReasons),
  message: z.string(),
  /** For a ban: when it ends, or null when it lasts until lifted. */
  until: z.string().nullable().optional(),
});
export type AuthRevoked = z.infer<typeof authRevoked>;

// ---- event maps -----------------------------------------------------------------------

export type JoinAck = { waitingSince: string };
export type ChatAck = { id: string; at: string };

/**
 * Events a client sends. Payloads are validated by the server. Every event takes an ack, and the
 * server answers it with a tagged result; the ack is written as required so that Socket.IO's types
 * follow it (`request()` in `request.ts`). A client may still leave it out (`send()`): the server
 * then reports a failure as an `error` event.
 */
export interface ClientToServerEvents {
  "lobby:join": (payload: LobbyJoin, ack: AckFn<JoinAck>) => void;
  "lobby:leave": (ack: AckFn) => void;
  signal: (payload: Signal, ack: AckFn) => void;
  "chat:send": (payload: ChatSend, ack: AckFn<ChatAck>) => void;
  "chat:typing": (payload: ChatTyping, ack: AckFn) => void;
  "call:next": (payload: SessionRef, ack: AckFn<JoinAck>) => void;
  /** Ok also for a user of a call that has ended already (both hung up at once); NOT_IN_SESSION for anyone else. */
  "call:end": (payload: SessionRef, ack: AckFn) => void;
  "call:stats": (payload: CallStatsEvent, ack: AckFn) => void;
}

/** Events the server sends. */
export interface ServerToClientEvents {
  "match:found": (payload: MatchFound) => void;
  "lobby:left": (payload: LobbyLeft) => void;
  signal: (payload: Signal) => void;
  "chat:message": (payload: ChatMessage) => void;
  "chat:typing": (payload: ChatTyping) => void;
  "call:ended": (payload: CallEnded) => void;
  "auth:revoked": (payload: AuthRevoked) => void;
  /** A failed event without an ack, or, just before the server closes the connection, why it does. */
  error: (payload: ErrorBody) => void;
}

/** Client event names with the schema of their first argument (`null` when they take none). */
export const clientEventSchemas = {
  "lobby:join": lobbyJoin,
  "lobby:leave": null,
  signal,
  "chat:send": chatSend,
  "chat:typing": chatTyping,
  "call:next": sessionRef,
  "call:end": sessionRef,
  "call:stats": callStatsEvent,
} as const satisfies Record<keyof ClientToServerEvents, z.ZodType | null>;

export const clientEvents = Object.keys(clientEventSchemas) as (keyof ClientToServerEvents)[];
