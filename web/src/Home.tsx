import { useEffect, useState, type FormEvent } from "react";
import { limits } from "../../protocol/limits.ts";
import type { Client } from "./client.ts";
import type { State } from "./store.ts";
import { Video } from "./Video.tsx";

/** Guest entry: nickname, interests, 18+ confirmation, camera preview with device choice. */
export function Home({ client, state }: { client: Client; state: State }) {
  const last = client.lobby.lastStart;
  const [nickname, setNickname] = useState(last?.nickname ?? "");
  const [interests, setInterests] = useState(last?.interests.join(", ") ?? "");
  const [adult, setAdult] = useState(last !== null);
  const [hideIp, setHideIp] = useState(last?.relayOnly ?? false);
  const { media } = state;

  useEffect(() => {
    if (!media.stream && !media.chatOnly && !media.problem && !media.loading) void client.media.open();
    // Once per visit of this screen; Retry asks again.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const mediaReady = media.stream !== null || media.chatOnly;
  const canStart = adult && mediaReady;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!canStart) return;
    void client.lobby.start({ nickname, interests: interests.split(","), relayOnly: hideIp });
  };

  return (
    <form className="home" onSubmit={submit}>
      <section className="preview" aria-label="Camera preview">
        {media.stream ? (
          <Video stream={media.stream} label="Your camera" self className="local-big" />
        ) : media.problem ? (
          <div className="media-problem" role={media.chatOnly ? "status" : "alert"}>
            {media.chatOnly ? <p>Chat only: you will see and hear your partner, they will not see you.</p> : <p>{media.problem.message}</p>}
            <div className="row">
              <button type="button" onClick={() => void client.media.open()}>
                Retry
              </button>
              {!media.chatOnly && (
                <button type="button" onClick={() => client.media.useChatOnly()}>
                  Continue with chat only
                </button>
              )}
            </div>
          </div>
        ) : (
          <div className="placeholder">
            {media.chatOnly ? (
              <p>Chat only</p>
            ) : (
              <>
                {/* The browser may be waiting for the user to answer its permission prompt. */}
                <p>Starting camera… Allow camera and microphone when your browser asks.</p>
                <div className="row">
                  <button type="button" onClick={() => client.media.useChatOnly()}>
                    Continue with chat only
                  </button>
                </div>
              </>
            )}
          </div>
        )}
      </section>

      {media.stream && (
        <div className="devices">
          <label>
            Camera
            <select value={media.videoId ?? ""} onChange={(e) => void client.media.chooseDevice("video", e.target.value)}>
              {media.cameras.length === 0 && <option value="">None</option>}
              {media.cameras.map((d, i) => (
                <option key={d.deviceId} value={d.deviceId}>
                  {d.label || `Camera ${i + 1}`}
                </option>
              ))}
            </select>
          </label>
          <label>
            Microphone
            <select value={media.audioId ?? ""} onChange={(e) => void client.media.chooseDevice("audio", e.target.value)}>
              {media.microphones.length === 0 && <option value="">None</option>}
              {media.microphones.map((d, i) => (
                <option key={d.deviceId} value={d.deviceId}>
                  {d.label || `Microphone ${i + 1}`}
                </option>
              ))}
            </select>
          </label>
        </div>
      )}

      <label>
        Nickname
        <input value={nickname} maxLength={limits.nicknameMax} placeholder="Guest" autoComplete="nickname" onChange={(e) => setNickname(e.target.value)} />
      </label>
      <label>
        Interests (optional, separated by commas)
        <input value={interests} placeholder="music, films, chess" onChange={(e) => setInterests(e.target.value)} />
      </label>
      <label className="check">
        <input type="checkbox" checked={adult} onChange={(e) => setAdult(e.target.checked)} />I am 18 or older
      </label>
      <label className="check">
        <input type="checkbox" checked={hideIp} onChange={(e) => setHideIp(e.target.checked)} />
        Hide my IP (route the call through our relay; may add delay)
      </label>
      <button type="submit" className="primary" disabled={!canStart}>
        Start
      </button>
      {!adult && <p className="hint">Confirm you are 18 or older to start.</p>}
      {adult && !mediaReady && <p className="hint">Waiting for the camera, or choose chat only.</p>}
    </form>
  );
}
