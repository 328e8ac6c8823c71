/**
 * Two bots wired back to back through in-memory signaling: the smallest real call, used by the
 * tests and the impairment calibration without any vchat server.
 */
import type { IceServer } from "../protocol/index.ts";
import { now } from "./clock.ts";
import { Pacer, type MediaKind, type VideoFrames } from "./media.ts";
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
}

export async function runPair(opts: PairOptions): Promise<{ offerer: PeerResult; answerer: PeerResult }> {
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
  return { offerer, answerer };
}
