/**
 * Two bots wired back to back through in-memory signaling: the smallest real call, used by the
 * tests and the impairment calibration without any vchat server.
 */
import type { IceServer } from "../protocol/index.ts";
import { now } from "./clock.ts";
import { newRunId, Pacer, type MediaKind, type VideoFrames } from "./media.ts";
import type { LoopMonitor } from "./overload.ts";
import { accountCalls, peerLeg } from "./report.ts";
import type { CallLeg } from "./types.ts";
import { BotPeer, type PeerResult, type TurnTransport } from "./peer.ts";

export interface PairOptions {
  iceServers: IceServer[];
  iceTransportPolicy?: "all" | "relay";
  turnTransport?: TurnTransport;
  media?: MediaKind;
  bitrateKbps?: number;
  /** Media time after connecting. */
  durationMs: number;
  connectTimeoutMs?: number;
  pacer?: Pacer;
  vp8Frames?: () => VideoFrames;
  /** @default 3000 */
  mediaStoppedMs?: number;
  /** Kept receiving after hang-up. @default 500 */
  drainMs?: number;
  loop?: LoopMonitor;
  /** Synthetic media on the bots' own RTP path or werift's. @default "bots" */
  rtpPath?: "bots" | "werift";
  /** A data channel with pings (`rttMs`). @default false */
  dataChannel?: boolean;
}

/**
 * One call between two bots; `legs` are the two directions as the report counts them (each
 * leg's expected packets from its partner's send counter).
 */
export async function runPair(opts: PairOptions): Promise<{ offerer: PeerResult; answerer: PeerResult; legs: [CallLeg, CallLeg] }> {
  const pacer = opts.pacer ?? new Pacer();
  const matchedAt = now();
  const common = {
    iceServers: opts.iceServers,
    iceTransportPolicy: opts.iceTransportPolicy ?? "relay",
    turnTransport: opts.turnTransport,
    media: opts.media ?? "synthetic",
    bitrateKbps: opts.bitrateKbps ?? 300,
    pacer,
    matchedAt,
    connectTimeoutMs: opts.connectTimeoutMs ?? 15000,
    vp8Frames: opts.vp8Frames,
    runId: newRunId(),
    mediaStoppedMs: opts.mediaStoppedMs,
    drainMs: opts.drainMs,
    loop: opts.loop,
    rtpPath: opts.rtpPath,
    dataChannel: opts.dataChannel,
  } as const;
  // Signals hop through a macrotask, as they would through a server.
  const a: BotPeer = new BotPeer({ ...common, role: "offerer", sendSignal: (s) => setImmediate(() => void b.onSignal(s)) });
  const b: BotPeer = new BotPeer({ ...common, role: "answerer", sendSignal: (s) => setImmediate(() => void a.onSignal(s)) });
  // Not awaited: with a failing TURN, werift's setLocalDescription waits out its gathering.
  const starting = a.start().catch(() => undefined);
  const [okA, okB] = await Promise.all([a.settled, b.settled]);
  if (okA && okB) await new Promise((r) => setTimeout(r, opts.durationMs));
  const [offerer, answerer] = await Promise.all([a.close(), b.close()]);
  void starting;
  const meta = (bot: string, peerId: string) => ({
    sessionId: "pair",
    bot,
    userId: null,
    peerId,
    joinToMatchMs: null,
    end: "self-end",
    nack: common.media === "vp8",
  });
  const [legA, legB] = accountCalls([peerLeg(offerer, meta("offerer", "answerer")), peerLeg(answerer, meta("answerer", "offerer"))]);
  return { offerer, answerer, legs: [legA!, legB!] };
}
