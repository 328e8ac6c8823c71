// bench/bots-density: the most concurrent relayed calls this machine sustains with `vchat bots`
// (loss under 0.5 %), the bots' own ceiling without TURN (host candidates), and in the same run
// two baselines: werift's own RTP pipeline (the bots' media path before issue #13) and headless
// Chromium (one page, fake camera at 30 fps). Node's floor (`bench/bots-floor`, one round) runs
// before and after the relayed steps: on a shared host the same code's figures move by up to a
// third from one run to the next, and the floor moves with the host, so the bots' figure over it
// says what the code costs on top of Node.
//
//   node bench/bots-density/run.ts [--steps 50,100,150,200,250] [--host-steps 150,200,250,300]
//     [--werift-calls 50] [--vp8-calls 25] [--hold 20] [--chromium-calls 6] [--chromium-window 30]
//     [--floor-rounds 1] [--all-steps]
//
// `vchat dev` (API, signaling, coturn) runs in its own process; the bots run in this one, spread
// over worker threads; Chromium is driven by playwright-core. Relayed calls go through the same
// coturn, each peer sending audio 50 packets/s and video 30 frames/s at ~300 kbps.
// CPU is read from /proc over a steady window after every call is up, per process tree, and
// divided by the RTP packets the bots sent and received in that window. CPU time per packet
// stays meaningful on a shared machine; wall-clock density there is pessimistic. A ramp stops at
// its first step that is not sustained, unless `--all-steps` (CPU per packet at every size).
import http from "node:http";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { runBots } from "../../bots/run.ts";
import { restClient } from "../../protocol/index.ts";
import { botsWindow, startDev } from "../support/dev.ts";
import { childPids, lines, spawnNode, stop, treeCpuSeconds } from "../support/process.ts";

/** Issue #13's per-packet and per-call targets for the bots, at 100 relayed calls. */
const TARGET_US_PER_PACKET = 20;
const TARGET_CORES_PER_CALL = 0.007;
/** Chromium's baseline as the issue sets it: 6 calls in one page, fake camera at 30 fps. */
const CHROMIUM_BASELINE_CALLS = 6;
const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "50,100,150,200,250" },
    "host-steps": { type: "string", default: "150,200,250,300" },
    "werift-calls": { type: "string", default: "50" },
    "vp8-calls": { type: "string", default: "25" },
    "all-steps": { type: "boolean", default: false },
    hold: { type: "string", default: "20" },
    "chromium-calls": { type: "string", default: String(CHROMIUM_BASELINE_CALLS) },
    "max-loss": { type: "string", default: "0.5" },
    "chromium-window": { type: "string", default: "30" },
    "floor-rounds": { type: "string", default: "1" },
  },
});
const list = (s: string) =>
  s
    .split(",")
    .map(Number)
    .filter((n) => n > 0 && n <= 1000);
const steps = list(values.steps);
const hostSteps = list(values["host-steps"]);
const WERIFT_CALLS = Math.min(Math.max(0, Number(values["werift-calls"])), 1000);
const VP8_CALLS = Math.min(Math.max(0, Number(values["vp8-calls"])), 1000);
const HOLD_S = Math.min(Math.max(5, Number(values.hold)), 120);
const CHROMIUM_CALLS = Math.min(Math.max(1, Number(values["chromium-calls"])), 20);
const MAX_LOSS = Number(values["max-loss"]);
const CHROMIUM_WINDOW_S = Math.min(Math.max(10, Number(values["chromium-window"])), 120);
const FLOOR_BOTS = 200;
const FLOOR_ROUNDS = Math.min(Math.max(0, Math.floor(Number(values["floor-rounds"]) || 0)), 5);
/** Relative spread of two measurements: |a - b| / their mean. */
const spread = ([a, b]: number[]) => (a === undefined || b === undefined ? Infinity : Math.abs(a - b) / ((a + b) / 2));
const BITRATE = 300; // kbps per peer, audio and video together
interface Step {
  calls: number;
  /** `relay`: relay-only through coturn; `host`: host candidates, no TURN. */
  via: "relay" | "host";
  rtpPath: "bots" | "werift";
  media: "synthetic" | "vp8";
  /** CPU µs of the bots' process per RTP packet sent or received. */
  botsUsPerPacket: number | null;
  /** CPU µs of coturn per packet it relayed (each bot packet crosses it once). */
  coturnUsPerPacket: number | null;
  /** Which process is the limit: the busiest for the cores it can use, or the whole machine. */
  bound: string;
  connected: number;
  lossPct: number | null;
  setupP95Ms: number | null;
  /** Freezes per minute, per leg, p95 (webrtc-stats definition). */
  freezesP95: number | null;
  /** Received media payload per leg, p50: a starved bot host sends less than asked. */
  bitrateP50: number | null;
  /** The bot host's own verdict (`vchat bots`' overload measure: a thread stalled >= 5 % of the run, `overloadPct`). */
  hostOverloaded: string | null;
  stalledPct: number;
  legsHostStalled: number;
  botsCpuCores: number;
  coturnCpuCores: number;
  serverCpuCores: number;
  loopLagMs: number;
  failures: Record<string, number>;
  unfinished: number;
  /**
   * Sustained: every call connected, loss under the limit, the media asked for really sent (a
   * sender more than 200 ms behind skips ahead, as an encoder would, so an overloaded host sends
   * less without losing anything), and the bot host valid by the same measure `vchat bots` uses
   * to invalidate a run. One verdict: a step the bots' own report calls invalid is never sustained.
   */
  ok: boolean;
}

/** One density step: `calls` calls (relayed, or on host candidates) held for HOLD_S seconds after the ramp. */
async function botsStep(
  url: string,
  calls: number,
  devPid: number,
  coturnPid: number | null,
  via: Step["via"] = "relay",
  rtpPath: Step["rtpPath"] = "bots",
  media: Step["media"] = "synthetic",
): Promise<Step> {
  const w = await botsWindow(
    runBots,
    {
      url,
      pairs: calls,
      // Joins per second: werift's DTLS handshakes are the costly part of a call's life.
      rampPerSec: 25,
      relay: via === "relay" ? "only" : "never",
      rtpPath,
      media,
      bitrateKbps: BITRATE,
      connectTimeoutMs: 45_000,
      // The step is judged below by the same host verdict; the run's own exit code is not used here.
      allowOverload: true,
    },
    HOLD_S,
    () => {
      const coturn = coturnPid ? treeCpuSeconds(coturnPid) : 0;
      return [coturn, treeCpuSeconds(devPid) - coturn];
    },
  );
  const report = w.report;
  const lag = w.lagMs;
  const measured = { bots: w.cpu, coturn: w.extra[0] ?? 0, server: w.extra[1] ?? 0, seconds: w.seconds, packets: w.packets };
  const s = report.summary;
  const per = (x: number) => (measured.seconds > 0 ? x / measured.seconds : 0);
  const usPer = (cpu: number, packets: number) => (packets > 0 ? Math.round((cpu * 1e7) / packets) / 10 : null);
  // What each process can use: the bots a core per worker thread, coturn its relay threads (one
  // per core), the server one event loop.
  const cores = availableParallelism();
  const load = [
    { name: "bots", used: per(measured.bots), can: Math.min(cores, Math.max(1, report.host.workers)) },
    { name: "coturn", used: per(measured.coturn), can: cores },
    { name: "vchat dev", used: per(measured.server), can: 1 },
  ];
  const total = load.reduce((n, l) => n + l.used, 0);
  const busiest = [...load].sort((x, y) => y.used - x.used)[0]!;
  const nearest = [...load].sort((x, y) => y.used / y.can - x.used / x.can)[0]!;
  const bound =
    total > 0.9 * cores
      ? `the machine (${total.toFixed(2)} of ${cores} cores busy, most by ${busiest.name})`
      : `${nearest.name} (${nearest.used.toFixed(2)} of the ${nearest.can} cores it can use)`;
  const delivered = s.connected === calls && s.lossPct !== null && s.lossPct < MAX_LOSS && (s.payloadKbps.p50 ?? 0) >= 0.9 * BITRATE;
  return {
    calls,
    via,
    rtpPath,
    media,
    botsUsPerPacket: usPer(measured.bots, measured.packets),
    coturnUsPerPacket: via === "relay" ? usPer(measured.coturn, measured.packets / 2) : null,
    bound,
    connected: s.connected,
    lossPct: s.lossPct,
    setupP95Ms: s.setupMs.p95,
    freezesP95: s.freezesPerMin.p95,
    bitrateP50: s.payloadKbps.p50,
    botsCpuCores: per(measured.bots),
    coturnCpuCores: per(measured.coturn),
    serverCpuCores: per(measured.server),
    loopLagMs: lag,
    failures: s.failures,
    unfinished: s.unfinished,
    hostOverloaded: report.host.overloaded,
    stalledPct: report.host.stalledPct,
    legsHostStalled: s.legsHostStalled,
    ok: delivered && report.host.overloaded === null,
  };
}

/** The page: N relay-only call pairs, each side sending the fake camera and microphone. */
const page = `<!doctype html><meta charset="utf-8"><title>bench</title><script>
window.startCalls = async (n, iceServerSets) => {
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 320, height: 240, frameRate: 30 } });
  const pcs = [];
  const up = [];
  for (let i = 0; i < n; i++) {
    // A user each, as in real calls: coturn caps allocations per user name.
    const a = new RTCPeerConnection({ iceServers: iceServerSets[2 * i], iceTransportPolicy: "relay" });
    const b = new RTCPeerConnection({ iceServers: iceServerSets[2 * i + 1], iceTransportPolicy: "relay" });
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    for (const pc of [a, b]) for (const t of media.getTracks()) pc.addTrack(t.clone(), media);
    up.push(new Promise((r) => { b.onconnectionstatechange = () => b.connectionState === "connected" && r(); }));
    const offer = await a.createOffer(); await a.setLocalDescription(offer); await b.setRemoteDescription(offer);
    const answer = await b.createAnswer(); await b.setLocalDescription(answer); await a.setRemoteDescription(answer);
    for (const pc of [a, b]) for (const s of pc.getSenders()) if (s.track && s.track.kind === "video") {
      const p = s.getParameters(); p.encodings = [{ ...(p.encodings[0] || {}), maxBitrate: 270000 }]; await s.setParameters(p).catch(() => {});
    }
    pcs.push(a, b);
  }
  window.pcs = pcs;
  await Promise.all(up);
};
window.callStats = async () => {
  let lost = 0, received = 0, frames = 0, relay = 0;
  for (const pc of window.pcs) {
    const r = await pc.getStats();
    r.forEach((s) => {
      if (s.type === "inbound-rtp") { lost += s.packetsLost || 0; received += s.packetsReceived || 0; frames += s.framesDecoded || 0; }
      if (s.type === "local-candidate" && s.candidateType === "relay") relay++;
    });
  }
  return { lost, received, frames, relay };
};
</script>`;

async function chromiumBaseline(url: string, calls: number) {
  const { chromium } = await import("playwright-core");
  const iceSets: unknown[][] = [];
  for (let i = 0; i < calls * 2; i++) {
    const guest = await restClient({ baseUrl: url }).call("guest", {});
    const ice = await restClient({ baseUrl: url, token: guest.token }).call("ice", undefined);
    // The UDP TURN URL only, as the bots use: one allocation per peer.
    iceSets.push(ice.iceServers.map((s) => ({ ...s, urls: [s.urls].flat().filter((u) => u.includes("transport=udp")) })));
  }
  const server = http.createServer((_, res) => res.writeHead(200, { "content-type": "text/html" }).end(page));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  // The fake camera runs at 20 fps unless told otherwise: 30, as the bots send.
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--use-fake-device-for-media-stream=fps=30",
      "--use-fake-ui-for-media-stream",
    ],
  });
  try {
    const root = childPids(process.pid, "chrom")[0];
    if (!root) throw new Error("could not find the Chromium process");
    const tab = await browser.newPage();
    // localhost: getUserMedia needs a secure context.
    await tab.goto(`http://localhost:${port}/`);
    await Promise.race([
      tab.evaluate(([n, servers]) => (window as unknown as { startCalls(n: number, s: unknown): Promise<void> }).startCalls(n, servers), [
        calls,
        iceSets,
      ] as const),
      new Promise((_, reject) => setTimeout(() => reject(new Error("Chromium calls did not connect within 60 s")), 60_000)),
    ]);
    await new Promise((r) => setTimeout(r, 10_000)); // encoders ramp up (bandwidth estimation, resolution)
    const stats = () =>
      tab.evaluate(() => (window as unknown as { callStats(): Promise<{ lost: number; received: number; frames: number; relay: number }> }).callStats());
    const stats0 = await stats();
    const t0 = performance.now();
    const cpu0 = treeCpuSeconds(root);
    // Back-to-back windows until the last two agree within 10 % (at most five): one short window
    // moved this baseline from 0.135 to 0.188 cores per call between two runs.
    const windows: number[] = [];
    let mark = { t: t0, cpu: cpu0 };
    do {
      await new Promise((r) => setTimeout(r, CHROMIUM_WINDOW_S * 1000));
      const at = { t: performance.now(), cpu: treeCpuSeconds(root) };
      windows.push((at.cpu - mark.cpu) / ((at.t - mark.t) / 1000) / calls);
      mark = at;
    } while (windows.length < 5 && (windows.length < 2 || spread(windows.slice(-2)) > 0.1));
    const stats1 = await stats();
    const seconds = (mark.t - t0) / 1000;
    const cores = (mark.cpu - cpu0) / seconds;
    const lost = stats1.lost - stats0.lost;
    const received = stats1.received - stats0.received;
    return {
      calls,
      cpuCores: cores,
      cpuPerCall: cores / calls,
      // Every packet one page's peer receives, the other sent: sent + received = 2 x received.
      usPerPacket: received ? Math.round(((cores * seconds * 1e6) / (2 * received)) * 10) / 10 : null,
      windows: windows.map((w) => Math.round(w * 10000) / 10000),
      agreed: spread(windows.slice(-2)) <= 0.1,
      seconds: Math.round(seconds),
      lossPct: received ? (100 * lost) / (lost + received) : null,
      fps: (stats1.frames - stats0.frames) / seconds / (calls * 2),
      relayCandidates: stats1.relay,
    };
  } finally {
    await browser.close();
    server.close();
  }
}

const fmt = (x: number | null, digits = 1) => (x === null ? "–" : x.toFixed(digits));
function printStep(step: Step): void {
  const label = `${step.via === "relay" ? "relayed" : "host"}${step.media === "vp8" ? " vp8" : step.rtpPath === "werift" ? " werift-path" : ""}`;
  console.log(
    `bots ${String(step.calls).padStart(4)} ${label} calls: ${step.connected} connected, loss ${step.lossPct ?? "–"} %, setup p95 ${step.setupP95Ms ?? "–"} ms, freezes/min p95 ${step.freezesP95 ?? "–"}, payload p50 ${step.bitrateP50 ?? "–"} kbps, lag p99 ${step.loopLagMs} ms, host stalled ${step.stalledPct} % (${step.legsHostStalled} legs flagged); ` +
      `CPU bots ${step.botsCpuCores.toFixed(2)} (${(step.botsCpuCores / step.calls).toFixed(4)}/call, ${fmt(step.botsUsPerPacket)} µs/packet) coturn ${step.coturnCpuCores.toFixed(2)} (${(step.coturnCpuCores / step.calls).toFixed(4)}/call, ${fmt(step.coturnUsPerPacket)} µs/packet) server ${step.serverCpuCores.toFixed(2)} cores; ` +
      `bound by ${step.bound}; ${step.ok ? "ok" : "OVER"}`,
  );
  if (!step.ok) {
    console.log(
      `  not sustained: ${step.connected} of ${step.calls} connected (${step.unfinished} unfinished, failures ${JSON.stringify(step.failures)}), loss ${step.lossPct ?? "–"} %, payload p50 ${step.bitrateP50 ?? "–"} of ${BITRATE} kbps${step.hostOverloaded ? `; bot host: ${step.hostOverloaded}` : ""}`,
    );
  }
}

/**
 * Node's floor now (`bench/bots-floor` in a child, `--floor-rounds` rounds): CPU µs per packet of
 * a cipher object each way and a `dgram` send and receive, FLOOR_BOTS bots in one thread (as many
 * as the 100 relayed calls the targets are judged at); null if skipped.
 */
async function nodeFloor(): Promise<number | null> {
  if (FLOOR_ROUNDS === 0) return null;
  const args = ["--bots", String(FLOOR_BOTS), "--rounds", String(FLOOR_ROUNDS)];
  const child = spawnNode([new URL("../bots-floor/run.ts", import.meta.url).pathname, ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const next = lines(child, "bench/bots-floor");
  try {
    for (;;) {
      const line = await next();
      if (line.startsWith("{")) return Math.min(...(JSON.parse(line) as { node: number[] }).node);
    }
  } catch (err) {
    // The steps go on without it.
    console.log(`Node's floor: not measured (${(err as Error).message})`);
    return null;
  } finally {
    await stop(child);
  }
}

const pause = () => new Promise((r) => setTimeout(r, 3000)); // allocations freed, sockets closed

/** Steps up to the first that is not sustained (all of them with --all-steps). */
async function ramp(list: number[], via: Step["via"]): Promise<Step[]> {
  const out: Step[] = [];
  for (const calls of list) {
    const step = await botsStep(dev.url, calls, dev.child.pid!, dev.coturnPid, via);
    out.push(step);
    printStep(step);
    await pause();
    if (!step.ok && !values["all-steps"]) break;
  }
  return out;
}

const dev = await startDev();
try {
  console.log(`bench/bots-density: ${availableParallelism()} cores; vchat dev + coturn in their own process; each step holds ${HOLD_S} s after the ramp`);
  const floorBefore = await nodeFloor();
  const relayed = await ramp(steps, "relay");
  const floorAfter = await nodeFloor();
  if (floorBefore !== null && floorAfter !== null)
    console.log(
      `Node's floor (bench/bots-floor, ${FLOOR_BOTS} bots in one thread): ${fmt(floorBefore)} µs/packet before the relayed steps, ${fmt(floorAfter)} after`,
    );
  const host = await ramp(hostSteps, "host");
  // The baseline of the bots' own RTP path: werift's pipeline, same kind of calls, same run.
  const werift = WERIFT_CALLS > 0 ? await botsStep(dev.url, WERIFT_CALLS, dev.child.pid!, dev.coturnPid, "relay", "werift") : null;
  if (werift) printStep(werift);
  await pause();
  // VP8 media (the browser-interop path) stays on werift's pipeline: what it costs.
  const vp8 = VP8_CALLS > 0 ? await botsStep(dev.url, VP8_CALLS, dev.child.pid!, dev.coturnPid, "relay", "bots", "vp8") : null;
  if (vp8) printStep(vp8);
  const chrome = await chromiumBaseline(dev.url, CHROMIUM_CALLS);
  console.log(
    `chromium ${chrome.calls} relayed calls in one page: ${chrome.cpuCores.toFixed(2)} cores, ${chrome.cpuPerCall.toFixed(3)} cores/call, ${fmt(chrome.usPerPacket)} µs/packet over ${chrome.seconds} s ` +
      `(windows of ${CHROMIUM_WINDOW_S} s: ${chrome.windows.join(", ")}; last two ${chrome.agreed ? "agree" : "do NOT agree"} within 10 %), loss ${chrome.lossPct?.toFixed(2) ?? "–"} %, ${chrome.fps.toFixed(1)} fps decoded per stream, ${chrome.relayCandidates} relay candidates`,
  );

  // One verdict per step (delivery and the host's own validity): the largest step held with
  // every smaller one held too.
  const largest = (list: Step[]) => {
    const i = list.findIndex((s) => !s.ok);
    return (i < 0 ? list : list.slice(0, i)).at(-1);
  };
  const sustained = largest(relayed);
  const hostSustained = largest(host);
  const perCall = (r: Step) => r.botsCpuCores / r.calls;
  // CPU per call and per packet mean something only where every call was up and carrying media
  // through the window: a step still doing handshakes, or redoing failed ones (a starved host),
  // spends its CPU on those.
  const measurable = (r: Step) => r.connected === r.calls && r.unfinished === 0 && Object.keys(r.failures).length === 0;
  // Compared at 100 relayed calls (the issue's point), else the largest measurable step.
  const ref = [relayed.find((r) => r.calls === 100), sustained, ...[...relayed].reverse()].find((r): r is Step => !!r && measurable(r)) ?? null;
  console.log(
    sustained
      ? `sustained relayed (loss < ${MAX_LOSS} %, every call connected, >= 90 % of the payload sent, bot host valid): ${sustained.calls} calls, bound by ${sustained.bound}; bots ${perCall(sustained).toFixed(4)} cores/call, ${fmt(sustained.botsUsPerPacket)} µs/packet, host stalled ${sustained.stalledPct} %`
      : `no relayed step sustained (loss < ${MAX_LOSS} %, every call connected, bot host valid)`,
  );
  console.log(
    hostSustained
      ? `host candidates (no TURN), the bots' own ceiling: ${hostSustained.calls} calls sustained, bound by ${hostSustained.bound}`
      : `host candidates: no step sustained`,
  );
  const starved = [...relayed, ...host].filter((r) => !r.ok && r.hostOverloaded && r.botsCpuCores < 0.5 * availableParallelism());
  if (starved.length) {
    console.log(
      `starved: at ${starved.map((r) => `${r.calls} ${r.via}`).join(", ")} calls the bot host was overloaded while the bots used under half the machine: other processes had the cores, so these wall-clock figures are pessimistic; CPU per packet of measurable steps is not`,
    );
  }
  // Chromium per call at its own packet rate; per packet it compares the same unit of work.
  const ratio = ref ? chrome.cpuPerCall / perCall(ref) : null;
  const packetRatio = ref && chrome.usPerPacket && ref.botsUsPerPacket ? chrome.usPerPacket / ref.botsUsPerPacket : null;
  if (ref)
    console.log(
      `Chromium/bots: ${fmt(ratio)}x CPU per call, ${fmt(packetRatio)}x per packet (bots at ${ref.calls} relayed calls: ${perCall(ref).toFixed(4)} cores/call, ${fmt(ref.botsUsPerPacket)} µs/packet; Chromium ${chrome.fps.toFixed(1)} fps)`,
    );
  // The host's speed drifts between runs; the floor drifts with it.
  const floor = floorBefore !== null && floorAfter !== null ? (floorBefore + floorAfter) / 2 : null;
  const floorRatio = ref?.botsUsPerPacket && floor ? ref.botsUsPerPacket / floor : null;
  if (floorRatio !== null)
    console.log(
      `bots / Node's floor: ${fmt(floorRatio, 2)}x (bots at ${ref!.calls} relayed calls ${fmt(ref!.botsUsPerPacket)} µs/packet, the floor ${fmt(floor)} µs/packet in this run)`,
    );
  // A projection for hosts other than this one: the per-packet and per-call targets at this run's
  // ratio over the floor, as the floor a host must have (cores/call = µs/packet x packets/s a call).
  const packetsPerCallS = ref?.botsUsPerPacket ? (perCall(ref) * 1e6) / ref.botsUsPerPacket : null;
  const floorForTargets =
    floorRatio !== null && packetsPerCallS !== null ? Math.min(TARGET_US_PER_PACKET, (TARGET_CORES_PER_CALL * 1e6) / packetsPerCallS) / floorRatio : null;
  if (floorForTargets !== null)
    console.log(
      `projection from ${ref!.calls} relayed calls: at ${fmt(floorRatio, 2)}x the floor, <= ${TARGET_US_PER_PACKET} µs/packet and <= ${TARGET_CORES_PER_CALL} cores/call (${fmt(packetsPerCallS, 0)} packets/s a call) need a host whose Node floor is at most ${fmt(floorForTargets)} µs/packet; this host's: ${fmt(floor)}`,
    );
  // The bots' path against werift's pipeline: the relayed step of the same size, same run.
  const twin = werift ? relayed.find((r) => r.calls === werift.calls && measurable(r)) : undefined;
  const pathRatio =
    werift && twin && measurable(werift) && werift.botsUsPerPacket && twin.botsUsPerPacket ? werift.botsUsPerPacket / twin.botsUsPerPacket : null;
  if (werift)
    console.log(
      `werift's RTP pipeline / the bots' path, CPU per packet at ${werift.calls} relayed calls: ${fmt(pathRatio)}x (${fmt(werift.botsUsPerPacket)} vs ${fmt(twin?.botsUsPerPacket ?? null)} µs/packet)`,
    );
  // What the machine can hold at all: coturn relays every packet twice and is C, so its cost per
  // call is a floor no bot implementation removes.
  if (ref && ref.coturnCpuCores > 0) {
    const coturnPerCall = ref.coturnCpuCores / ref.calls;
    console.log(
      `coturn alone: ${coturnPerCall.toFixed(4)} cores/call, so 150 relayed calls need ${(150 * coturnPerCall).toFixed(2)} of this machine's ${availableParallelism()} cores for coturn; bots at ${perCall(ref).toFixed(4)} cores/call ${(150 * perCall(ref)).toFixed(2)} more`,
    );
  }
  const met = (ok: boolean) => (ok ? "met" : "NOT met");
  // The issue sets the per-call targets at 100 relayed calls: a smaller run's figures are printed
  // above, not judged (a thread carrying fewer calls batches less, and costs differ). Likewise
  // Chromium's per call against its default 6 calls: one page's fixed cost weighs more on fewer.
  const judged = (what: string, ok: boolean) =>
    !ref ? "not measured" : ref.calls === 100 ? `${what}: ${met(ok)}` : `${what} at ${ref.calls} calls: not judged (measured at 100 relayed)`;
  console.log(
    `targets: <= ${TARGET_US_PER_PACKET} µs/packet at 100 relayed calls ${judged(fmt(ref?.botsUsPerPacket ?? null), (ref?.botsUsPerPacket ?? Infinity) <= TARGET_US_PER_PACKET)}; ` +
      `<= ${TARGET_CORES_PER_CALL} cores/call ${judged(ref ? perCall(ref).toFixed(4) : "-", !!ref && perCall(ref) <= TARGET_CORES_PER_CALL)}; ` +
      `>= 20x less CPU per call than Chromium ${CHROMIUM_CALLS === CHROMIUM_BASELINE_CALLS ? judged(`${fmt(ratio)}x`, ratio !== null && ratio >= 20) : `${fmt(ratio)}x: not judged (Chromium ran ${CHROMIUM_CALLS} calls; the baseline is ${CHROMIUM_BASELINE_CALLS} in one page)`}; ` +
      `>= 150 relayed calls sustained ${met(!!sustained && sustained.calls >= 150)}; ` +
      `>= 250 calls on host candidates ${met(!!hostSustained && hostSustained.calls >= 250)}`,
  );
  console.log(
    JSON.stringify({
      bench: "bots-density",
      holdS: HOLD_S,
      relayed,
      host,
      werift,
      vp8,
      sustainedCalls: sustained?.calls ?? 0,
      hostCalls: hostSustained?.calls ?? 0,
      chromium: chrome,
      ratio,
      packetRatio,
      pathRatio,
      floor: { before: floorBefore, after: floorAfter, ratio: floorRatio, forTargets: floorForTargets },
    }),
  );
} finally {
  dev.child.kill("SIGINT");
  await new Promise((r) => dev.child.once("exit", r));
}
