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

export function stopStream(stream: MediaStream | null | undefined): void {
  stream?.getTracks().forEach((t) => t.stop());
}
