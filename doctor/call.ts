/**
 * A full call between two werift peers in this process, relay-only through the TURN server:
 * the same ICE, DTLS and RTP path a browser call takes when TURN is needed. Timings per phase.
 */
import type { IceServer } from "../protocol/index.ts";
import { transportWords, type Outcome } from "./servers.ts";

export interface CallOptions {
  iceServer: IceServer;
  timeoutMs: number;
  /** Ends the call attempt early (the reason becomes the verdict). */
  signal?: AbortSignal;
}

let werift: Promise<typeof import("werift")> | undefined;

/** Starts loading werift (about half a second of module loading) while other checks run. */
export function preloadWerift(): Promise<typeof import("werift")> {
  werift ??= import("werift");
  return werift;
}

export async function checkCall(opts: CallOptions | undefined): Promise<Outcome> {
  if (!opts) return { status: "skipped", verdict: "no working TURN transport to call through" };
  const start = performance.now();
  const since = () => Math.round(performance.now() - start);
  const { RTCPeerConnection, MediaStreamTrack, RtpHeader, RtpPacket } = await preloadWerift();
  const importMs = since();
  const config = {
    // Always explicit: werift's default is a public STUN server.
    iceServers: [opts.iceServer],
    iceTransportPolicy: "relay" as const,
    bundlePolicy: "max-bundle" as const,
  };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const t: { ice?: number; dtls?: number; media?: number } = {};
  let timer: NodeJS.Timeout | undefined;
  let sender: NodeJS.Timeout | undefined;
  try {
    const track = new MediaStreamTrack({ kind: "audio" });
    a.addTransceiver(track, { direction: "sendonly" });
    a.onIceCandidate.subscribe((c) => c && b.addIceCandidate(c).catch(() => {}));
    b.onIceCandidate.subscribe((c) => c && a.addIceCandidate(c).catch(() => {}));
    const firstMedia = new Promise<void>((resolve) => {
      b.onTrack.subscribe((remote) => {
        remote.onReceiveRtp.subscribe(() => {
          t.media ??= since();
          resolve();
        });
      });
    });
    a.iceConnectionStateChange.subscribe((s) => {
      if (s === "connected" || s === "completed") t.ice ??= since();
    });
    const connected = new Promise<void>((resolve, reject) => {
      a.connectionStateChange.subscribe((s) => {
        if (s === "connected") {
          t.dtls ??= since();
          resolve();
        } else if (s === "failed") reject(new Error("ICE failed: no relayed candidate pair worked"));
      });
    });
    const phase = () => (t.ice === undefined ? "ICE" : t.dtls === undefined ? "DTLS" : "first media");
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`stuck in ${phase()} after ${opts.timeoutMs} ms`)), opts.timeoutMs);
      opts.signal?.addEventListener("abort", () => reject(new Error(String(opts.signal!.reason))), { once: true });
    });
    // It may fire before a race listens (e.g. during negotiation); the races below still see it.
    timeout.catch(() => {});
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(a.localDescription!);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription!);
    await Promise.race([connected, timeout]);
    let seq = 0;
    const payload = Buffer.alloc(80);
    const send = () => {
      seq = (seq + 1) & 0xffff;
      track.writeRtp(new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: seq * 960, payloadType: 111, marker: false }), payload));
    };
    send();
    sender = setInterval(send, 20);
    await Promise.race([firstMedia, timeout]);
    const relay = await selectedTypes(a);
    const details = { importMs, iceMs: t.ice, dtlsMs: t.dtls, firstMediaMs: t.media, localCandidate: relay, turn: String(opts.iceServer.urls) };
    if (relay && relay !== "relay") return { status: "fail", verdict: `connected, but not through the relay (${relay})`, details };
    return {
      status: "pass",
      verdict: `connected through TURN: ICE ${t.ice} ms, DTLS ${t.dtls} ms, first media ${t.media} ms`,
      details,
    };
  } catch (err) {
    return {
      status: "fail",
      verdict: `the call did not complete: ${transportWords(err)}`,
      details: { importMs, iceMs: t.ice, dtlsMs: t.dtls, firstMediaMs: t.media, turn: String(opts.iceServer.urls) },
    };
  } finally {
    clearTimeout(timer);
    clearInterval(sender);
    await Promise.allSettled([a.close(), b.close()]);
  }
}

/** The local candidate type of the nominated pair, from werift's getStats(). */
async function selectedTypes(pc: { getStats(): Promise<unknown> }): Promise<string | undefined> {
  try {
    const report = (await pc.getStats()) as Map<string, Record<string, unknown>>;
    const stats = [...report.values()];
    const pair = stats.find((s) => s.type === "candidate-pair" && (s.nominated || s.selected));
    const local = pair && stats.find((s) => s.id === pair.localCandidateId);
    return local?.candidateType as string | undefined;
  } catch {
    return undefined;
  }
}
