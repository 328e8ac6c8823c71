import type { AuthRevoked } from "../../protocol/index.ts";
import { CallSession } from "./call-session.ts";
import { Chat } from "./chat.ts";
import { Connection, type ConnectionOptions } from "./connection.ts";
import { Lobby } from "./lobby.ts";
import { LocalMedia } from "./media.ts";
import { Moderation } from "./moderation.ts";
import { Store } from "./store.ts";

/** The page's units, wired together once; the screens read `store` and call the units. */
export interface Client {
  store: Store;
  lobby: Lobby;
  call: CallSession;
  chat: Chat;
  media: LocalMedia;
  moderation: Moderation;
  dispose(): void;
}

export function createClient(opts: Pick<ConnectionOptions, "url" | "login"> = {}): Client {
  const store = new Store();
  const connection = new Connection({ ...opts, store, onReconnected: (recovered) => void afterReconnect(recovered), onSentHome: sentHome });
  const lobby = new Lobby(store, connection);
  const chat = new Chat(store, connection);
  const call = new CallSession({ store, connection, lobby, chat });
  const media = new LocalMedia({ store, replaceTrack: (t) => call.replaceTrack(t) });
  const moderation = new Moderation({ store, connection, call });

  async function afterReconnect(recovered: boolean): Promise<void> {
    if (recovered) {
      store.notify("info", "Reconnected to the server.");
      return;
    }
    // A new server session: the lobby place and the call's signaling are gone.
    const { phase } = store.get();
    if (phase === "call") {
      call.endLocally();
      store.notify("warn", "The connection to the server dropped and your chat ended. Reconnected — looking for someone new…");
      await lobby.join();
    } else if (phase === "waiting" || phase === "joining") {
      store.notify("info", "Reconnected to the server. Still looking for someone…");
      await lobby.join();
    } else {
      store.notify("info", "Reconnected to the server.");
    }
  }

  function sentHome(revoked?: AuthRevoked): void {
    if (store.get().phase === "call") call.endLocally();
    store.set({ phase: "home", waitingSince: null });
    if (!revoked) return;
    const banned = revoked.reason === "banned";
    store.notify(banned ? "error" : "info", banned ? revoked.message : "Your session ended. Press Start to continue.");
  }

  return {
    store,
    lobby,
    call,
    chat,
    media,
    moderation,
    dispose() {
      call.endLocally();
      connection.dispose();
      media.dispose();
    },
  };
}
