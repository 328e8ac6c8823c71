// A share of the simulated users of a benchmark (bench/signaling, bench/cluster), in a process
// of its own. Two phases, one clock for all processes (absolute milliseconds, comparable on one
// machine):
//   match: join, matched, the offerer ends the call, both join again — as fast as it goes; with
//          --exchange the pair first trades an offer, an answer and 10 candidates (5 each way);
//   relay: join once; in each call both sides send a candidate every --relay-interval ms carrying
//          its send time, and the receiver records the relay latency (at a rate well below
//          saturation: the cost of the relay path, not a backlog).
// --no-auth skips the guest sign-up (for the bare Socket.IO relay of bench/signaling).
// Prints {ready} once connected, reads the start time (ms) from stdin, and prints
// {matches, latencies} as one JSON line on stdout at the end.
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { io } from "socket.io-client";
import { request, restClient, send, type ClientSocket } from "../../protocol/index.ts";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    users: { type: "string" },
    seconds: { type: "string" },
    "relay-seconds": { type: "string" },
    "relay-interval": { type: "string" },
    exchange: { type: "boolean", default: false },
    "no-auth": { type: "boolean", default: false },
  },
});
const relayInterval = Number(values["relay-interval"] ?? 250);
const url = values.url!;
const users = Number(values.users);
const now = () => performance.timeOrigin + performance.now();

async function connectOnce(i: number): Promise<ClientSocket> {
  let auth = {};
  if (!values["no-auth"]) {
    auth = { token: (await restClient({ baseUrl: url }).call("guest", { nickname: `bench${i}` })).token };
  }
  const socket: ClientSocket = io(url, { auth, transports: ["websocket"], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (err) => (socket.close(), reject(err)));
  });
  return socket;
}

/** A busy machine sometimes drops a connection attempt: try again a few times. */
async function connect(i: number): Promise<ClientSocket> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(i);
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

const sockets: ClientSocket[] = [];
for (let i = 0; i < users; i += 50) sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, users - i) }, (_, j) => connect(i + j)))));

let phase: "idle" | "match" | "relay" | "done" = "idle";
let matches = 0;
const latencies: number[] = [];
const join = (socket: ClientSocket) => void request(socket, "lobby:join", {});
const candidate = (n: number) => ({ candidate: `candidate:${n} 1 udp 2122260223 127.0.0.1 ${50000 + n} typ host t=${now()}`, sdpMid: "0", sdpMLineIndex: 0 });
// A realistic size: browser offers with audio, video and a data channel are 3-6 KB.
const sdp = (type: "offer" | "answer") => ({
  type,
  sdp: `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n` + "a=x-filler:0123456789abcdef0123456789abcdef\r\n".repeat(100),
});

for (const socket of sockets) {
  let pinger: NodeJS.Timeout | undefined;
  let offerer = false;
  let got = 0;
  const end = (sessionId: string) =>
    void request(socket, "call:end", { sessionId }).then(() => {
      if (phase === "match") join(socket);
    });
  socket.on("match:found", ({ sessionId, role }) => {
    offerer = role === "offerer";
    got = 0;
    if (phase === "match" || phase === "idle") {
      // Matches that land between the phases are ended too, so everyone is free for the relay phase.
      if (!offerer) return;
      if (phase === "match") matches++;
      if (phase !== "match" || !values.exchange) return end(sessionId);
      send(socket, "signal", { sessionId, description: sdp("offer") });
      for (let i = 0; i < 5; i++) send(socket, "signal", { sessionId, candidate: candidate(i) });
    } else if (phase === "relay") {
      let n = 0;
      pinger = setInterval(() => {
        if (phase !== "relay") return clearInterval(pinger);
        send(socket, "signal", { sessionId, candidate: candidate(n++) });
      }, relayInterval);
    }
  });
  socket.on("call:ended", () => {
    clearInterval(pinger);
    if (phase === "match") join(socket);
  });
  socket.on("signal", (s) => {
    if (phase === "relay") {
      const sent = Number(/t=([\d.]+)/.exec(s.candidate?.candidate ?? "")?.[1]);
      if (sent) latencies.push(now() - sent);
      return;
    }
    // --exchange: the answerer answers the offer; the offerer ends the call once it has the
    // answer and the answerer's 5 candidates.
    got++;
    if (s.description?.type === "offer") {
      send(socket, "signal", { sessionId: s.sessionId, description: sdp("answer") });
      for (let i = 0; i < 5; i++) send(socket, "signal", { sessionId: s.sessionId, candidate: candidate(i) });
    }
    if (offerer && got === 6) end(s.sessionId);
  });
}

// Connected: say so, and wait for the start time that the runner sends once every process is ready.
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
const matchStart = Number(await new Promise<string>((resolve) => createInterface({ input: process.stdin }).once("line", resolve)));
const matchEnd = matchStart + Number(values.seconds) * 1000;
// A pause between the phases lets the calls of the first one end.
const relayStart = matchEnd + 1500;
const relayEnd = relayStart + Number(values["relay-seconds"]) * 1000;
const at = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
await at(matchStart);
phase = "match";
for (const socket of sockets) join(socket);
await at(matchEnd);
phase = "idle";
await at(relayStart);
phase = "relay";
for (const socket of sockets) join(socket);
await at(relayEnd);
phase = "done";
sockets.forEach((s) => s.disconnect());
// Exit only once the (large) line is flushed into the pipe.
process.stdout.write(JSON.stringify({ matches, latencies: latencies.map((l) => Math.round(l * 100) / 100) }) + "\n", () => process.exit(0));
