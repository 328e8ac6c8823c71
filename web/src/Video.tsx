import { useEffect, useRef, useState } from "react";

interface Props {
  stream: MediaStream | null;
  label: string;
  className?: string;
  /** The own preview is muted (no echo) and mirrored like a mirror. */
  self?: boolean;
}

/** A `<video>` showing a MediaStream; falls back to muted playback when autoplay with sound is refused. */
export function Video({ stream, label, className, self = false }: Props) {
  const ref = useRef<HTMLVideoElement>(null);
  const [soundBlocked, setSoundBlocked] = useState(false);

  useEffect(() => {
    const v = ref.current;
    if (!v) return;
    if (v.srcObject !== stream) v.srcObject = stream;
    if (!stream) return;
    v.play().catch(() => {
      if (self) return;
      v.muted = true;
      setSoundBlocked(true);
      void v.play().catch(() => undefined);
    });
  }, [stream, self]);

  return (
    <div className={`video ${className ?? ""}`}>
      <video ref={ref} aria-label={label} autoPlay playsInline muted={self} className={self ? "mirror" : undefined} />
      {soundBlocked && (
        <button
          type="button"
          className="unmute"
          onClick={() => {
            const v = ref.current;
            if (v) v.muted = false;
            setSoundBlocked(false);
          }}
        >
          Tap for sound
        </button>
      )}
    </div>
  );
}
