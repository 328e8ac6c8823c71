import type { ChatMessage, ChatTyping } from "../../protocol/index.ts";
import { limits } from "../../protocol/limits.ts";
import { chatProblem, normaliseChat } from "../../protocol/text.ts";
import type { Connection } from "./connection.ts";
import type { Line, Store } from "./store.ts";

const typingIdleMs = 3000;
const peerTypingMs = 6000;
const linesKept = 200;

/** The text chat of the current call and both typing indicators. */
export class Chat {
  private readonly store: Store;
  private readonly connection: Connection;
  private typingSent = false;
  private typingTimer: ReturnType<typeof setTimeout> | null = null;
  private peerTypingTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(store: Store, connection: Connection) {
    this.store = store;
    this.connection = connection;
    connection.on("chat:message", (m) => this.onMessage(m));
    connection.on("chat:typing", (t) => this.onTyping(t));
  }

  /** Sends a message; false (and a notice) when it was refused, so the box keeps the text. */
  async send(text: string): Promise<boolean> {
    const call = this.store.get().call;
    const trimmed = normaliseChat(text).slice(0, limits.chatTextMax);
    if (!call || !trimmed) return false;
    const problem = chatProblem(trimmed);
    if (problem) {
      this.store.notify("error", `Message not sent: it ${problem}.`);
      return false;
    }
    this.stopTyping();
    const res = await this.connection.request("chat:send", { sessionId: call.sessionId, text: trimmed });
    if (!res.ok) {
      this.store.notify("error", `Message not sent: ${res.error.message}`);
      return false;
    }
    this.addLine({ id: res.id, mine: true, text: trimmed, at: res.at });
    return true;
  }

  /** Call on every keystroke in the message box; sends typing on/off sparingly. */
  typing(): void {
    const call = this.store.get().call;
    if (!call) return;
    if (!this.typingSent) {
      this.typingSent = true;
      void this.connection.request("chat:typing", { sessionId: call.sessionId, typing: true });
    }
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), typingIdleMs);
  }

  /** The call is over: no indicator timer may outlive it. */
  reset(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    if (this.peerTypingTimer) clearTimeout(this.peerTypingTimer);
    this.typingTimer = null;
    this.peerTypingTimer = null;
    this.typingSent = false;
  }

  private stopTyping(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
    this.typingTimer = null;
    const call = this.store.get().call;
    if (this.typingSent && call) void this.connection.request("chat:typing", { sessionId: call.sessionId, typing: false });
    this.typingSent = false;
  }

  private onMessage(m: ChatMessage): void {
    const { call, me } = this.store.get();
    if (!call || m.sessionId !== call.sessionId) return;
    this.addLine({ id: m.id, mine: m.from === me?.id, text: m.text, at: m.at });
    if (m.from !== me?.id) this.store.set({ peerTyping: false });
  }

  private addLine(line: Line): void {
    const { lines } = this.store.get();
    // The sender learns its message both from the ack and (on some servers) an echo.
    if (lines.some((l) => l.id === line.id)) return;
    this.store.set({ lines: [...lines, line].slice(-linesKept) });
  }

  private onTyping(t: ChatTyping): void {
    if (t.sessionId !== this.store.get().call?.sessionId) return;
    if (this.peerTypingTimer) clearTimeout(this.peerTypingTimer);
    // A lost "typing: false" must not leave the indicator on forever.
    if (t.typing) this.peerTypingTimer = setTimeout(() => this.store.set({ peerTyping: false }), peerTypingMs);
    this.store.set({ peerTyping: t.typing });
  }
}
