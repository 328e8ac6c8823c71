import { useEffect, useRef, useState, type FormEvent } from "react";
import { reportReasons, type ReportReason } from "../../protocol/rest.ts";
import { limits } from "../../protocol/limits.ts";
import type { Client } from "./client.ts";
import type { CallState, State } from "./store.ts";
import { Video } from "./Video.tsx";

const reasonLabels: Record<ReportReason, string> = {
  nudity: "Nudity or sexual content",
  harassment: "Harassment",
  hate: "Hate speech",
  spam: "Spam or advertising",
  underage: "Seems under 18",
  violence: "Violence or threats",
  other: "Something else",
};

export function CallView({ client, state, call }: { client: Client; state: State; call: CallState }) {
  const [reporting, setReporting] = useState(false);
  const { media } = state;
  const connecting = call.peerState !== "connected";
  return (
    <section className="call">
      <div className="stage">
        <Video stream={state.remoteStream} label="Remote video" className="remote" />
        {connecting ? (
          <div className="overlay" role="status">
            {call.peerState === "failed" ? "Connection failed" : `Connecting to ${call.peer.nickname}…`}
          </div>
        ) : (
          !call.peerCamera && (
            <div className="overlay" role="status">
              {call.peer.nickname} has no camera on: text chat only
            </div>
          )
        )}
        {media.stream && <Video stream={media.stream} label="Your video" self className="pip" />}
      </div>

      <div className="callbar">
        <p>
          Talking with <strong className="peer-name">{call.peer.nickname}</strong>
          {call.sharedInterests.length > 0 && <span className="shared"> · You both like {call.sharedInterests.join(", ")}</span>}
        </p>
        <p className="route" data-testid="route">
          {call.route
            ? call.route.kind === "relayed"
              ? `Connection: relayed via TURN (${call.route.protocol})${call.relayOnly ? " — your IP is hidden" : ""}`
              : `Connection: direct (${call.route.protocol})`
            : call.relayOnly
              ? "Connection: setting up (relay only)…"
              : "Connection: setting up…"}
        </p>
      </div>

      <div className="controls">
        {media.stream && (
          <>
            <button type="button" aria-pressed={media.micMuted} onClick={() => client.media.toggleMic()}>
              {media.micMuted ? "Unmute" : "Mute"}
            </button>
            <button type="button" aria-pressed={media.cameraOff} onClick={() => client.media.toggleCamera()}>
              {media.cameraOff ? "Camera on" : "Camera off"}
            </button>
          </>
        )}
        <button type="button" className="primary" onClick={() => void client.call.next()}>
          Next
        </button>
        <button type="button" onClick={() => void client.call.stop()}>
          Stop
        </button>
        <button type="button" className="danger" aria-expanded={reporting} onClick={() => setReporting((r) => !r)}>
          Report
        </button>
        <button type="button" className="danger" onClick={() => void client.moderation.block()}>
          Block
        </button>
      </div>

      {reporting && <ReportForm client={client} onDone={() => setReporting(false)} />}
      <Chat client={client} state={state} call={call} />
    </section>
  );
}

function ReportForm({ client, onDone }: { client: Client; onDone: () => void }) {
  const [reason, setReason] = useState<ReportReason>("harassment");
  const [details, setDetails] = useState("");
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    const ok = await client.moderation.report(reason, details);
    setBusy(false);
    if (ok) onDone();
  };
  return (
    <form className="report" onSubmit={(e) => void submit(e)} aria-label="Report this person">
      <label>
        Reason
        <select value={reason} onChange={(e) => setReason(e.target.value as ReportReason)}>
          {reportReasons.map((r) => (
            <option key={r} value={r}>
              {reasonLabels[r]}
            </option>
          ))}
        </select>
      </label>
      <label>
        Details (optional)
        <textarea value={details} maxLength={limits.reportDetailsMax} rows={2} onChange={(e) => setDetails(e.target.value)} />
      </label>
      <div className="row">
        <button type="submit" className="danger" disabled={busy}>
          Send report
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Chat({ client, state, call }: { client: Client; state: State; call: CallState }) {
  const [text, setText] = useState("");
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: "nearest" });
  }, [state.lines.length]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const value = text;
    if (!value.trim()) return;
    setText("");
    if (!(await client.chat.send(value))) setText(value);
  };

  return (
    <div className="chat">
      <ol className="lines" ref={list} aria-label="Chat messages" aria-live="polite">
        {state.lines.map((l) => (
          <li key={l.id} className={l.mine ? "mine" : "theirs"}>
            <span className="who">{l.mine ? "You" : call.peer.nickname}:</span> {l.text}
          </li>
        ))}
      </ol>
      <p className="typing" aria-live="polite">
        {state.peerTyping ? `${call.peer.nickname} is typing…` : " "}
      </p>
      <form className="compose" onSubmit={(e) => void submit(e)}>
        <input
          aria-label="Message"
          value={text}
          maxLength={limits.chatTextMax}
          autoComplete="off"
          placeholder="Say hi…"
          onChange={(e) => {
            setText(e.target.value);
            client.chat.typing();
          }}
        />
        <button type="submit">Send</button>
      </form>
    </div>
  );
}
