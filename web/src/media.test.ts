import { afterEach, describe, expect, it, vi } from "vitest";
import { LocalMedia } from "./media.ts";
import { Store } from "./store.ts";

/**
 * Node has no camera: these tests stand in for the browser's `navigator.mediaDevices` with
 * streams of plain track objects, and check what the page does with the browser's answers.
 */
function fakeTrack(kind: "audio" | "video", deviceId: string) {
  return {
    kind,
    enabled: true,
    stopped: false,
    stop() {
      this.stopped = true;
    },
    getSettings: () => ({ deviceId }),
  };
}
type FakeTrack = ReturnType<typeof fakeTrack>;

function fakeStream(videoId = "cam1", audioId = "mic1") {
  const tracks = [fakeTrack("audio", audioId), fakeTrack("video", videoId)];
  return {
    tracks,
    getTracks: () => tracks,
    getAudioTracks: () => tracks.filter((t) => t.kind === "audio"),
    getVideoTracks: () => tracks.filter((t) => t.kind === "video"),
  };
}

function browser(getUserMedia: (c: MediaStreamConstraints) => Promise<unknown>) {
  const asked: MediaStreamConstraints[] = [];
  vi.stubGlobal("navigator", {
    mediaDevices: {
      getUserMedia: (c: MediaStreamConstraints) => (asked.push(c), getUserMedia(c)),
      enumerateDevices: async () => [
        { kind: "videoinput", deviceId: "cam1", label: "Front" },
        { kind: "videoinput", deviceId: "cam2", label: "Back" },
        { kind: "audioinput", deviceId: "mic1", label: "Mic" },
        { kind: "audiooutput", deviceId: "out", label: "Speaker" },
      ],
    },
  });
  return asked;
}

function media() {
  const store = new Store();
  const replaced: unknown[] = [];
  const local = new LocalMedia({ store, replaceTrack: async (t) => void replaced.push(t) });
  return { store, local, replaced };
}

afterEach(() => vi.unstubAllGlobals());

describe("LocalMedia: the own camera and microphone", () => {
  it("opens camera and microphone, lists the devices and hands the tracks to a running call", async () => {
    const stream = fakeStream();
    browser(async () => stream);
    const { store, local, replaced } = media();
    await local.open();
    const m = store.get().media;
    expect(m).toMatchObject({ stream, loading: false, problem: null, chatOnly: false, videoId: "cam1", audioId: "mic1" });
    expect(m.cameras.map((d) => d.label)).toEqual(["Front", "Back"]);
    expect(m.microphones.map((d) => d.label)).toEqual(["Mic"]);
    expect(replaced).toEqual(stream.tracks);
  });

  it("switches device: asks for exactly that one and stops the old stream", async () => {
    const first = fakeStream();
    const second = fakeStream("cam2");
    const asked = browser(async (c) => ((c.video as MediaTrackConstraints).deviceId ? second : first));
    const { store, local } = media();
    await local.open();
    await local.chooseDevice("video", "cam2");
    expect((asked[1]!.video as MediaTrackConstraints).deviceId).toEqual({ exact: "cam2" });
    expect(store.get().media.stream).toBe(second);
    expect(first.tracks.every((t) => t.stopped)).toBe(true);
    expect(second.tracks.some((t) => t.stopped)).toBe(false);
  });

  it("mutes and turns the camera off through track.enabled, also for a stream opened later", async () => {
    browser(async () => fakeStream());
    const { store, local } = media();
    await local.open();
    local.toggleMic();
    local.toggleCamera();
    const tracks = (store.get().media.stream as unknown as ReturnType<typeof fakeStream>).tracks;
    expect(tracks.map((t: FakeTrack) => t.enabled)).toEqual([false, false]);
    expect(store.get().media).toMatchObject({ micMuted: true, cameraOff: true });
    await local.open();
    const again = (store.get().media.stream as unknown as ReturnType<typeof fakeStream>).tracks;
    expect(again.map((t: FakeTrack) => t.enabled)).toEqual([false, false]);
    local.toggleMic();
    expect(again.map((t: FakeTrack) => t.enabled)).toEqual([true, false]);
  });

  it("says what to do when the camera is denied, and chat only goes on without it", async () => {
    browser(async () => {
      throw new DOMException("denied", "NotAllowedError");
    });
    const { store, local } = media();
    await local.open();
    expect(store.get().media).toMatchObject({ stream: null, loading: false, problem: { kind: "denied" } });
    expect(store.get().media.problem?.message).toMatch(/^Camera and microphone access was denied/);
    local.useChatOnly();
    expect(store.get().media).toMatchObject({ stream: null, chatOnly: true });
  });

  it("falls back to the microphone alone on a machine without camera", async () => {
    const audioOnly = fakeStream();
    const asked = browser(async (c) => {
      if (c.video) throw new DOMException("no camera", "NotFoundError");
      return audioOnly;
    });
    const { store, local } = media();
    await local.open();
    expect(asked.map((c) => Boolean(c.video))).toEqual([true, false]);
    expect(store.get().media.stream).toBe(audioOnly);
  });

  it("drops a camera the browser grants after the user chose chat only", async () => {
    const stream = fakeStream();
    let grant!: (s: unknown) => void;
    browser(() => new Promise((resolve) => (grant = resolve)));
    const { store, local } = media();
    const opening = local.open();
    expect(store.get().media.loading).toBe(true);
    local.useChatOnly();
    grant(stream);
    await opening;
    expect(store.get().media).toMatchObject({ stream: null, chatOnly: true, loading: false });
    expect(stream.tracks.every((t) => t.stopped)).toBe(true);
  });

  it("explains that the camera needs a secure page when mediaDevices is missing", async () => {
    vi.stubGlobal("navigator", {});
    const { store, local } = media();
    await local.open();
    expect(store.get().media.problem?.kind).toBe("insecure");
  });
});
