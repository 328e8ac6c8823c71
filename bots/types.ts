/** Shapes shared by the bots, their worker threads, the runner and the report. */
import type { TurnTransport } from "./ice.ts";
import type { MosEstimate } from "./mos.ts";
import type { LoopStats } from "./overload.ts";

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
  /** Open a data channel in each call and ping over it (`rttMs`); the web client opens none. */
  dataChannel: boolean;
  /** `transport/host:port` → `host:port`: TURN endpoints replaced (impairment proxies, tests). */
  turnRewrites: Record<string, string>;
  connectTimeoutMs: number;
  /** Nickname prefix; each bot adds its index. */
  nickname: string;
  /** The run's id, written in every media packet. */
  runId: number;
  /** Kept receiving after hang-up, ms (packets in flight are not lost). */
  drainMs: number;
  /** A direction silent this long fails its call (`media-stopped`), ms. */
  mediaStoppedMs: number;
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
  /** Packets this bot sent per stream (audio, video): its partner's expected counts. */
  sent: { audio: number; video: number };
  /** Distinct packets received per stream (duplicates, corrupt and replayed ones left out). */
  received: { audio: number; video: number };
  /** Highest sequence number seen + 1 per stream: what the receiver alone can tell was sent. */
  expectedSeen: { audio: number; video: number };
  /** Packets that arrived after a later one (NACK retransmissions on vp8). */
  recovered: number;
  /**
   * Whose counts `packetsExpected` comes from: `partner` (its send counter, the whole call,
   * a dead tail included) or `receiver` (highest sequence seen: a partner outside this run).
   */
  expectedFrom: "partner" | "receiver";
  packetsExpected: number;
  packetsLost: number;
  /** Lost over expected, percent; with NACK (vp8) this is loss after retransmission. */
  lossPct: number | null;
  /** Audio only (the MOS input), percent. */
  audioLossPct: number | null;
  /** Packets missing when a later one arrived, before any retransmission filled them, percent. */
  rawLossPct: number | null;
  /** Whether NACK retransmission was on (vp8): `lossPct` is then "after NACK". */
  nack: boolean;
  duplicates: number;
  /** SRTP packets failing authentication / replayed (RFC 3711 §3.3.2 window): dropped, not media. */
  corrupt: number;
  replayed: number;
  /** Audio RFC 3550 jitter from RTP timestamps, per-second values: mean and p95, ms. */
  jitterMs: number | null;
  jitterP95Ms: number | null;
  /** Median one-way delay of the leg's audio (video without audio), ms. */
  oneWayDelayMs: number | null;
  /** Sparse `[ms, packets]` histogram of one-way delay, both streams; merged run-wide, then dropped from the report. */
  delayHistogram?: Array<[number, number]>;
  /** Data-channel echo median (through both event loops), ms; null without `dataChannel`. */
  rttMs: number | null;
  /** RTCP round trip median, ms. */
  rtcpRttMs: number | null;
  /** Media payload received over the connected time, kbps (RTP payload bytes, no headers). */
  payloadKbps: number | null;
  /** Complete video frames received (every packet of the frame). */
  framesReceived: number;
  freezes: number;
  freezeMs: number;
  freezesPerMin: number | null;
  frozenPct: number | null;
  pauses: number;
  /** Longest silence of the partner's media while connected, ms. */
  mediaGapMs: number | null;
  /** Packets without measuring fields (a browser partner). */
  foreignPackets: number;
  /** Packets of another run: ignored. */
  otherRunPackets: number;
  connectedSeconds: number;
  /** The receiving thread's stalled time during the call (lags ≥ 20 ms) and its share. */
  hostStalledMs: number | null;
  hostStalledPct: number | null;
  /** The receiving thread was stalled enough to shape this leg's figures. */
  hostStalled: boolean;
  /** E-model (ITU-T G.107) estimate for the leg's audio, with its inputs; null without audio. */
  mos: MosEstimate | null;
  mediaSeconds: number;
  /** The worker process that ran this bot (`vchat bots --workers`). */
  worker?: string;
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
  /** Live media counts over calls in progress and done. */
  lost: number;
  expected: number;
  /** Event-loop lag p99 of the thread over the run so far, ms. */
  loopLagMs: number;
  /** How late the thread began its bots' schedule after the run's start (`t0`), ms: a late thread breaks the ramp. */
  startLagMs: number;
  /** The thread's whole-run event-loop figures. */
  loop?: LoopStats;
  errors: number;
  lastError: string | null;
  /** Sessions of this thread's calls that are up now (a call whose two bots sit on two threads appears twice). */
  upSessions: string[];
  /** match → first media of the legs up now that got media, ms (finished legs arrive as `CallLeg`s). */
  liveSetupsMs: number[];
  /** Media received over the last window by the legs up now. */
  media: MediaWindow;
  /** This thread's CPU over the last window, percent of one core; null where Node cannot tell a thread's own. */
  cpuPct: number | null;
}

/** Sums over legs and one window (about a second): they add up across threads and workers. */
export interface MediaWindow {
  windowMs: number;
  /** Legs up during the window. */
  legs: number;
  /** Payload bytes received. */
  bytes: number;
  /** Current RFC 3550 audio jitter, summed over the legs that have one. */
  jitterSumMs: number;
  jitterLegs: number;
  /** One-way delay of every in-order packet, summed. */
  delaySumMs: number;
  delayPackets: number;
  freezes: number;
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
