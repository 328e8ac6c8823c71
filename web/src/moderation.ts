import type { ReportReason } from "../../protocol/index.ts";
import { ApiError, blockUser, sendReport } from "./api.ts";
import type { CallSession } from "./call-session.ts";
import { noAnswer, unreachable, type Connection } from "./connection.ts";
import type { Store } from "./store.ts";

export interface ModerationOptions {
  store: Store;
  connection: Connection;
  call: Pick<CallSession, "next">;
  /** The REST calls, the ones of `api.ts` by default. */
  api?: { sendReport: typeof sendReport; blockUser: typeof blockUser };
}

/** Report and Block, on the person of the current call. */
export class Moderation {
  private readonly opts: ModerationOptions;
  private readonly api: NonNullable<ModerationOptions["api"]>;

  constructor(opts: ModerationOptions) {
    this.opts = opts;
    this.api = opts.api ?? { sendReport, blockUser };
  }

  /** Reports the peer; the call goes on. True once the server took the report. */
  async report(reason: ReportReason, details: string): Promise<boolean> {
    const { store, connection } = this.opts;
    const call = store.get().call;
    if (!call || !connection.token) return false;
    try {
      await this.api.sendReport(connection.token, call.sessionId, reason, details.trim() || undefined);
      store.notify("info", "Thank you. Your report was sent to the moderators.");
      return true;
    } catch (err) {
      store.notify("error", err instanceof ApiError && !noAnswer(err.code) ? `Report not sent: ${err.message}` : unreachable);
      return false;
    }
  }

  /** Blocks the peer (the server ends the call for both) and looks for someone new. */
  async block(): Promise<void> {
    const { store, connection } = this.opts;
    const call = store.get().call;
    if (!call || !connection.token) return;
    try {
      await this.api.blockUser(connection.token, call.peer.id);
    } catch (err) {
      store.notify("error", err instanceof ApiError && !noAnswer(err.code) ? `Block failed: ${err.message}` : unreachable);
      return;
    }
    await this.opts.call.next();
    store.notify("info", `You blocked ${call.peer.nickname}; you won't be matched again. Looking for someone new…`);
  }
}
