import type { LobbyLeft } from "../../protocol/index.ts";
import { limits } from "../../protocol/limits.ts";
import { interestProblem, nicknameProblem, normaliseNickname } from "../../protocol/text.ts";
import { ApiError } from "./api.ts";
import { isTransportError, noAnswer, unreachable, websocketBlocked, type Connection, type Refusal } from "./connection.ts";
import type { Store } from "./store.ts";

export interface StartOptions {
  nickname: string;
  interests: string[];
  relayOnly: boolean;
}

/** Start and Stop before a call: checks what was typed, signs in, connects, waits in the lobby. */
export class Lobby {
  private readonly store: Store;
  private readonly connection: Connection;
  private options: StartOptions | null = null;

  constructor(store: Store, connection: Connection) {
    this.store = store;
    this.connection = connection;
    connection.on("lobby:left", (l) => this.onLobbyLeft(l));
  }

  /** What the user last started with, to prefill the form when they come back to it. */
  get lastStart(): StartOptions | null {
    return this.options;
  }

  async start(opts: StartOptions): Promise<void> {
    const { store } = this;
    if (store.get().phase !== "home") return;
    const interests = opts.interests
      .map((i) => i.trim().toLowerCase().slice(0, limits.interestMax))
      .filter(Boolean)
      .slice(0, limits.interestsMax);
    const nickname = normaliseNickname(opts.nickname).slice(0, limits.nicknameMax);
    const problem = nickname ? nicknameProblem(nickname) : null;
    if (problem) {
      store.notify("error", `That nickname ${problem}.`);
      return;
    }
    const badInterest = interests.find((i) => interestProblem(i));
    if (badInterest !== undefined) {
      store.notify("error", `The interest "${badInterest}" ${interestProblem(badInterest)}.`);
      return;
    }
    this.options = { ...opts, nickname, interests };
    store.set({ phase: "joining", notice: null });
    try {
      await this.connection.login(nickname);
    } catch (err) {
      store.set({ phase: "home" });
      if (err instanceof ApiError && !noAnswer(err.code) && err.code !== "INTERNAL") store.notify("error", err.message);
      else store.notify("error", unreachable);
      return;
    }
    try {
      await this.connection.connect();
    } catch (err) {
      store.set({ phase: "home" });
      // The sign-in just reached the server over HTTP: a WebSocket that fails now is blocked on the way.
      store.notify("error", isTransportError(err) ? websocketBlocked : unreachable);
      return;
    }
    // Stop may have been pressed while we were signing in.
    if (store.get().phase === "joining") await this.join();
  }

  /** Waits for someone new, with what the user last started with. */
  async join(): Promise<void> {
    const opts = this.options;
    if (!opts) return;
    this.store.set({ phase: "waiting", waitingSince: Date.now() });
    const res = await this.connection.request("lobby:join", {
      ...(opts.interests.length ? { interests: opts.interests } : {}),
      ...(opts.relayOnly ? { relayOnly: true } : {}),
    });
    if (res.ok) this.accepted(res.waitingSince);
    else this.refused(res.error);
  }

  /** Stop while connecting or waiting. */
  async leave(): Promise<void> {
    const { phase } = this.store.get();
    if (phase !== "waiting" && phase !== "joining") return;
    this.store.set({ phase: "home", waitingSince: null });
    await this.connection.request("lobby:leave");
  }

  /** The lobby took us in at `iso` (server time). */
  accepted(iso: string): void {
    if (this.store.get().phase !== "waiting") return;
    const t = Date.parse(iso);
    // Server clocks drift; never show a wait that starts in the future.
    if (Number.isFinite(t)) this.store.set({ waitingSince: Math.min(Date.now(), t) });
  }

  refused(error: Refusal): void {
    // A match may already have arrived while the ack was pending.
    if (this.store.get().phase !== "waiting") return;
    this.store.set({ phase: "home", waitingSince: null });
    this.store.notify("error", noAnswer(error.code) || error.code === "UNAVAILABLE" ? unreachable : error.message);
  }

  /** The same user started looking for someone in another tab, which took this tab's place. */
  private onLobbyLeft(l: LobbyLeft): void {
    const { phase } = this.store.get();
    if (phase !== "waiting" && phase !== "joining") return;
    this.store.set({ phase: "home", waitingSince: null });
    if (l.reason === "replaced") this.store.notify("warn", "You started looking for someone in another tab or window, so this one stopped.");
  }
}
