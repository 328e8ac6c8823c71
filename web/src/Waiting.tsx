import { useEffect, useState } from "react";
import type { Client } from "./client.ts";
import type { State } from "./store.ts";
import { Video } from "./Video.tsx";

export function Waiting({ client, state }: { client: Client; state: State }) {
  const now = useNow(1000);
  const waited = state.waitingSince ? Math.max(0, now - state.waitingSince) : 0;
  return (
    <section className="waiting">
      {state.media.stream && <Video stream={state.media.stream} label="Your camera" self className="local-big" />}
      <p className="big" role="status">
        {state.phase === "joining" ? "Connecting…" : "Looking for someone to talk to…"}
      </p>
      {state.phase === "waiting" && <p className="muted">Waiting {formatDuration(waited)}</p>}
      <button type="button" onClick={() => void client.lobby.leave()}>
        Stop
      </button>
    </section>
  );
}

export function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}
