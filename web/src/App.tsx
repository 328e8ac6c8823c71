import { useSyncExternalStore } from "react";
import type { Client } from "./client.ts";
import { Home } from "./Home.tsx";
import { Waiting } from "./Waiting.tsx";
import { CallView } from "./CallView.tsx";

export function App({ client }: { client: Client }) {
  const state = useSyncExternalStore(client.store.subscribe, client.store.get);
  const { notice } = state;
  return (
    <div className="app">
      <header className="top">
        <h1>vchat</h1>
        <span className={`link link-${state.link}`}>{linkText[state.link]}</span>
      </header>
      {notice && (
        <div className={`notice notice-${notice.tone}`} role={notice.tone === "error" ? "alert" : "status"}>
          <span>{notice.text}</span>
          <button type="button" className="plain" aria-label="Dismiss message" onClick={client.store.dismissNotice}>
            ×
          </button>
        </div>
      )}
      <main>
        {state.phase === "home" && <Home client={client} state={state} />}
        {(state.phase === "joining" || state.phase === "waiting") && <Waiting client={client} state={state} />}
        {state.phase === "call" && state.call && <CallView client={client} state={state} call={state.call} />}
      </main>
    </div>
  );
}

const linkText: Record<string, string> = {
  idle: "",
  connecting: "Connecting…",
  online: "Online",
  reconnecting: "Reconnecting…",
};
