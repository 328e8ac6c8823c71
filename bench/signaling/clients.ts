// A share of the simulated users of bench/signaling, in a process of its own so that the clients
// do not bottleneck on one core. Reports {matches, latencies} as one JSON line on stdout.
//
// Each pair: lobby:join, match:found, an offer, an answer, 10 candidates (5 each way),
// call:end, and round again. The send time rides in the SDP/candidate text as absolute
// milliseconds (timeOrigin + now), comparable between processes on one machine.
import { parseArgs } from "node:util";
import { io, type Socket } from "socket.io-client";

const { values } = parseArgs({ options: { url: { type: "string" }, users: { type: "string" }, auth: { type: "boolean", default: false }, start: { type: "string" }, seconds: { type: "string" } } });
const url = values.url!;
const users = Number(values.users);
const startAt = Number(values.start);
const seconds = Number(values.seconds);
const now = () => performance.timeOrigin + performance.now();

async function connect(i: number): Promise<Socket> {
  let token: string | undefined;
  if (values.auth) {
    const res = await fetch(`${url}/api/auth/guest`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ nickname: `bench${i}` }) });
    token = ((await res.json()) as { token: string }).token;
  }
  const socket = io(url, { auth: token ? { token } : {}, transports: ["websocket"], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return socket;
}

const sockets: Socket[] = [];
for (let i = 0; i < users; i += 50) sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, users - i) }, (_, j) => connect(i + j)))));

let matches = 0;
let running = true;
const latencies: number[] = [];
const candidate = (i: number) => ({ candidate: `candidate:${i} 1 udp 2122260223 127.0.0.1 ${50000 + i} typ host t=${now()}`, sdpMid: "0", sdpMLineIndex: 0 });
const sdp = (kind: string) => `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=${kind}\r\nt=${now()}\r\n` + "a=x\r\n".repeat(200);
const join = (socket: Socket) => running && socket.emit("lobby:join", {}, () => {});

for (const socket of sockets) {
  let got = 0;
  let offerer = false;
  socket.on("match:found", ({ sessionId, role }: { sessionId: string; role: string }) => {
    got = 0;
    offerer = role === "offerer";
    if (!offerer) return;
    matches++;
    socket.emit("signal", { sessionId, description: { type: "offer", sdp: sdp("offer") } });
    for (let i = 0; i < 5; i++) socket.emit("signal", { sessionId, candidate: candidate(i) });
  });
  socket.on("signal", (s: { sessionId: string; description?: { type: string; sdp: string }; candidate?: { candidate: string } }) => {
    const sent = Number(/t=([\d.]+)/.exec(s.description?.sdp ?? s.candidate?.candidate ?? "")?.[1]);
    if (sent && running) latencies.push(now() - sent);
    got++;
    if (s.description?.type === "offer") {
      socket.emit("signal", { sessionId: s.sessionId, description: { type: "answer", sdp: sdp("answer") } });
      for (let i = 0; i < 5; i++) socket.emit("signal", { sessionId: s.sessionId, candidate: candidate(i) });
    }
    // The offerer ends the call once it has the answer and 5 candidates; the answerer joins
    // again when told the call ended.
    if (offerer && got === 6) socket.emit("call:end", { sessionId: s.sessionId }, () => join(socket));
  });
  socket.on("call:ended", () => join(socket));
}

await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
for (const socket of sockets) join(socket);
await new Promise((r) => setTimeout(r, seconds * 1000));
running = false;
sockets.forEach((s) => s.disconnect());
// Exit only once the (large) line is flushed into the pipe.
process.stdout.write(JSON.stringify({ matches, latencies: latencies.map((l) => Math.round(l * 100) / 100) }) + "\n", () => process.exit(0));
