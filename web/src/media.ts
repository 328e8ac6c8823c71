import type { Store } from "./store.ts";

/** Why the camera or microphone could not be used, in words a person can act on. */
export type MediaProblem = { kind: "denied" | "absent" | "busy" | "insecure" | "other"; message: string };

export interface DeviceChoice {
  videoId?: string;
  audioId?: string;
}

/** Asks for camera and microphone; when there is no camera, falls back to the microphone alone. */
export async function openMedia(choice: DeviceChoice): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) throw insecure();
  const video: MediaTrackConstraints = {
    width: { ideal: 640 },
    height: { ideal: 480 },
    ...(choice.videoId ? { deviceId: { exact: choice.videoId } } : {}),
  };
  const audio: MediaTrackConstraints | boolean = choice.audioId ? { deviceId: { exact: choice.audioId } } : true;
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio });
  } catch (err) {
    // A machine without a camera can still talk; anything else is reported as is.
    if (err instanceof DOMException && err.name === "NotFoundError") {
      return await navigator.mediaDevices.getUserMedia({ audio });
    }
    throw err;
  }
}

export async function listDevices(): Promise<{ cameras: MediaDeviceInfo[]; microphones: MediaDeviceInfo[] }> {
  if (!navigator.mediaDevices?.enumerateDevices) return { cameras: [], microphones: [] };
  const all = await navigator.mediaDevices.enumerateDevices();
  return {
    cameras: all.filter((d) => d.kind === "videoinput" && d.deviceId),
    microphones: all.filter((d) => d.kind === "audioinput" && d.deviceId),
  };
}

function insecure(): DOMException {
  return new DOMException("mediaDevices is missing", "SecurityError");
}

export function describeMediaError(err: unknown): MediaProblem {
  const name = err instanceof DOMException || err instanceof Error ? err.name : "";
  switch (name) {
    case "NotAllowedError":
      return {
        kind: "denied",
        message: "Camera and microphone access was denied. Allow it in your browser's site settings and press Retry, or continue with text chat only.",
      };
    case "NotFoundError":
    case "OverconstrainedError":
      return {
        kind: "absent",
        message: "No camera or microphone was found. Plug one in and press Retry, or continue with text chat only.",
      };
    case "NotReadableError":
    case "AbortError":
      return {
        kind: "busy",
        message: "Your camera is in use by another app or could not be started. Close the other app and press Retry, or continue with text chat only.",
      };
    case "SecurityError":
      return {
        kind: "insecure",
        message: "This page is not served securely (https), so the browser does not allow the camera. You can still use text chat.",
      };
    default:
      return { kind: "other", message: "The camera could not be started. Press Retry, or continue with text chat only." };
  }
}

function stopStream(stream: MediaStream | null | undefined): void {
  stream?.getTracks().forEach((t) => t.stop());
}

export interface LocalMediaOptions {
  store: Store;
  /** Puts a newly opened track into the running call, if any. */
  replaceTrack(track: MediaStreamTrack): Promise<void>;
}

/** The own camera and microphone: asking for them, device choice, mute and camera-off, or chat only. */
export class LocalMedia {
  private readonly store: Store;
  private readonly replaceTrack: (track: MediaStreamTrack) => Promise<void>;
  /** Counts the asks, so an answer the user no longer waits for is dropped. */
  private asked = 0;

  constructor(opts: LocalMediaOptions) {
    this.store = opts.store;
    this.replaceTrack = opts.replaceTrack;
  }

  private get state() {
    return this.store.get().media;
  }

  async open(): Promise<void> {
    const ask = ++this.asked;
    this.store.setMedia({ loading: true, problem: null });
    try {
      const stream = await openMedia({ videoId: this.state.videoId, audioId: this.state.audioId });
      if (ask !== this.asked) {
        // The user chose chat only (or asked again) while the browser was still asking.
        stopStream(stream);
        return;
      }
      const old = this.state.stream;
      if (old && old !== stream) stopStream(old);
      this.applyToggles(stream);
      // Device labels are only visible once permission is granted, so list them afterwards.
      const { cameras, microphones } = await listDevices();
      this.store.setMedia({
        stream,
        loading: false,
        chatOnly: false,
        cameras,
        microphones,
        videoId: stream.getVideoTracks()[0]?.getSettings().deviceId ?? this.state.videoId,
        audioId: stream.getAudioTracks()[0]?.getSettings().deviceId ?? this.state.audioId,
      });
      for (const t of stream.getTracks()) await this.replaceTrack(t);
    } catch (err) {
      if (ask === this.asked) this.store.setMedia({ loading: false, problem: describeMediaError(err) });
    }
  }

  useChatOnly(): void {
    this.asked++;
    stopStream(this.state.stream);
    this.store.setMedia({ stream: null, chatOnly: true, loading: false });
  }

  async chooseDevice(kind: "video" | "audio", deviceId: string): Promise<void> {
    this.store.setMedia(kind === "video" ? { videoId: deviceId } : { audioId: deviceId });
    await this.open();
  }

  toggleMic(): void {
    this.store.setMedia({ micMuted: !this.state.micMuted });
    this.applyToggles(this.state.stream);
  }

  toggleCamera(): void {
    this.store.setMedia({ cameraOff: !this.state.cameraOff });
    this.applyToggles(this.state.stream);
  }

  dispose(): void {
    stopStream(this.state.stream);
  }

  private applyToggles(stream: MediaStream | null): void {
    stream?.getAudioTracks().forEach((t) => (t.enabled = !this.state.micMuted));
    stream?.getVideoTracks().forEach((t) => (t.enabled = !this.state.cameraOff));
  }
}
