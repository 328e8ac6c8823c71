/** Shapes shared by the bots, their worker threads, the runner and the report. */
import type { TurnTransport } from "./ice.ts";

export const mediaKinds = ["synthetic", "vp8"] as const;
export type MediaKind = (typeof mediaKinds)[number];

export const relayModes = ["auto", "only", "never"] as const;
export type RelayMode = (typeof relayModes)[number];

/** What every bot of a run is told. Plain data: it crosses into worker threads. */
export interface BotConfig {
  url: string;
  relay: RelayMode;
  turnTransport: TurnTransport;
  interests: string[];
  /** A call lasts this long, then `call:next`; null keeps calls until the run ends. */
  churnMs: number | null;
  bitrateKbps: number;
  media: MediaKind;
  /** Synthetic media on the bots' own RTP path (`rtp-path.ts`), or werift's tracks (the benchmark's baseline). */
  rtpPath: "bots" | "werift";
  /** `transport/host:port` → `host:port`: TURN endpoints replaced (impairment proxies, tests). */
  turnRewrites: Record<string, string>;
  connectTimeoutMs: number;
  /** Nickname prefix; each bot adds its index. */
  nickname: string;
}

/** One bot's view of one call. Times are ms. */
export interface CallLeg {
  sessionId: string;
  bot: string;
  userId: string | null;
  role: "offerer" | "answerer";
  peerId: string;
  /** lobby:join → match:found. */
  joinToMatchMs: number | null;
  /** match:found → ICE connected. */
  iceMs: number | null;
  /** match:found → DTLS connected (the call is up). */
  dtlsMs: number | null;
  /** match:found → first media packet received. */
  firstMediaMs: number | null;
  connected: boolean;
  localCandidateType: string | null;
  remoteCandidateType: string | null;
  transport: string | null;
  packetsExpected: number;
  packetsLost: number;
  lossPct: number | null;
  jitterMs: number | null;
  oneWayDelayMs: number | null;
  rttMs: number | null;
  bitrateKbps: number | null;
  framesReceived: number;
  freezes: number;
  freezeMs: number;
  /** Packets from a partner without measuring fields (a browser user). */
  foreignPackets: number;
  mediaSeconds: number;
  /** Why the call never connected. */
  failure: string | null;
  /** How the call ended: `self-next`, `self-end`, `peer-<reason>`, `run-end`, `failed`. */
  end: string;
}

/** Live counts of one thread's bots, sent about once a second. */
export interface BotCounts {
  bots: number;
  starting: number;
  waiting: number;
  connecting: number;
  up: number;
  callsDone: number;
  callsFailed: number;
  /** Live media counts over calls in progress and done. */
  lost: number;
  expected: number;
  /** Event-loop delay p99 of the thread, ms. */
  loopLagMs: number;
  errors: number;
  lastError: string | null;
}

export type WorkerMessage =
  | { type: "leg"; leg: CallLeg }
  | { type: "counts"; worker: number; counts: BotCounts }
  | { type: "done"; worker: number; counts: BotCounts }
  | { type: "fatal"; worker: number; message: string };

export interface WorkerInit {
  worker: number;
  config: BotConfig;
  /** Bot indices this thread runs, with their start offset from `t0` in ms. */
  bots: Array<{ index: number; startAtMs: number }>;
  t0: number;
}
