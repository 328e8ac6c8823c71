import type { Peer, User } from "../../protocol/index.ts";
import type { Route } from "./call.ts";
import type { MediaProblem } from "./media.ts";

export type Phase = "home" | "joining" | "waiting" | "call";
export type ServerLink = "idle" | "connecting" | "online" | "reconnecting";
export type Tone = "info" | "warn" | "error";

export interface Line {
  id: string;
  mine: boolean;
  text: string;
  at: string;
}

/** Everything the screens show. The units write it through `Store`; React reads it. */
export interface State {
  phase: Phase;
  /** The one message the user should read now (peer left, server unreachable, ...). */
  notice: { tone: Tone; text: string } | null;
  link: ServerLink;
  me: User | null;
  /** `Date.now()` when the lobby accepted us. */
  waitingSince: number | null;
  call: {
    sessionId: string;
    peer: Peer;
    sharedInterests: string[];
    relayOnly: boolean;
    peerState: RTCPeerConnectionState;
    route: Route | null;
    /** False once negotiated without video from the peer (chat-only on their side). */
    peerCamera: boolean;
  } | null;
  remoteStream: MediaStream | null;
  lines: Line[];
  peerTyping: boolean;
  media: {
    stream: MediaStream | null;
    problem: MediaProblem | null;
    /** The user chose to go on without camera and microphone. */
    chatOnly: boolean;
    loading: boolean;
    micMuted: boolean;
    cameraOff: boolean;
    cameras: MediaDeviceInfo[];
    microphones: MediaDeviceInfo[];
    videoId?: string;
    audioId?: string;
  };
}

export type CallState = NonNullable<State["call"]>;

export const initialState: State = {
  phase: "home",
  notice: null,
  link: "idle",
  me: null,
  waitingSince: null,
  call: null,
  remoteStream: null,
  lines: [],
  peerTyping: false,
  media: {
    stream: null,
    problem: null,
    chatOnly: false,
    loading: false,
    micMuted: false,
    cameraOff: false,
    cameras: [],
    microphones: [],
  },
};

/**
 * The page's state as one immutable value: every change makes a new object and tells the
 * subscribers, so React reads it with `useSyncExternalStore(store.subscribe, store.get)`.
 */
export class Store {
  private state: State;
  private readonly listeners = new Set<() => void>();

  constructor(state: State = initialState) {
    this.state = state;
  }

  subscribe = (fn: () => void): (() => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  get = (): State => this.state;

  set(patch: Partial<State>): void {
    this.state = { ...this.state, ...patch };
    this.listeners.forEach((fn) => fn());
  }

  setMedia(patch: Partial<State["media"]>): void {
    this.set({ media: { ...this.state.media, ...patch } });
  }

  /** Changes the current call; does nothing once the call is over. */
  setCall(patch: Partial<CallState>): void {
    if (this.state.call) this.set({ call: { ...this.state.call, ...patch } });
  }

  notify(tone: Tone, text: string): void {
    this.set({ notice: { tone, text } });
  }

  dismissNotice = (): void => {
    this.set({ notice: null });
  };
}
