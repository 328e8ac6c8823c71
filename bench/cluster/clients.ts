// A share of the simulated users of bench/cluster, in a process of its own. Two phases, one
// clock for all processes (absolute milliseconds, comparable on one machine):
//   match: join, matched, the offerer ends the call, both join again — as fast as it goes;
//   relay: join once; in each call both sides send a candidate every --relay-interval ms carrying its send
//          time, and the receiver records the relay latency.
// Prints {ready} once connected, reads the start time (ms) from stdin, and prints
// {matches, latencies} as one JSON line on stdout at the end.
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { io, type Socket } from "socket.io-client";

const { values } = parseArgs({
  options: { url: { type: "string" }, users: { type: "string" }, seconds: { type: "string" }, "relay-seconds": { type: "string" }, "relay-interval": { type: "string" } },
});
const relayInterval = Number(values["relay-interval"] ?? 250);
const url = values.url!;
const users = Number(values.users);
const now = () => performance.timeOrigin + performance.now();

async function connectOnce(i: number): Promise<Socket> {
  const res = await fetch(`${url}/api/auth/guest`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ nickname: `bench${i}` }) });
  if (res.status !== 201) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  const { token } = (await res.json()) as { token: string };
  const socket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", (err) => (socket.close(), reject(err)));
  });
  return socket;
}

/** A busy machine sometimes drops a connection attempt: try again a few times. */
async function connect(i: number): Promise<Socket> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectOnce(i);
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

const sockets: Socket[] = [];
for (let i = 0; i < users; i += 50) sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, users - i) }, (_, j) => connect(i + j)))));

let phase: "idle" | "match" | "relay" | "done" = "idle";
let matches = 0;
const latencies: number[] = [];
const join = (socket: Socket) => socket.emit("lobby:join", {}, () => {});

for (const socket of sockets) {
  let pinger: NodeJS.Timeout | undefined;
  socket.on("match:found", ({ sessionId, role }: { sessionId: string; role: string }) => {
    if (phase === "match" || phase === "idle") {
      // Matches that land between the phases are ended too, so everyone is free for the relay phase.
      if (role !== "offerer") return;
      if (phase === "match") matches++;
      socket.emit("call:end", { sessionId }, () => {
        if (phase === "match") join(socket);
      });
    } else if (phase === "relay") {
      let n = 0;
      pinger = setInterval(() => {
        if (phase !== "relay") return clearInterval(pinger);
        const candidate = { candidate: `candidate:${n++} 1 udp 2122260223 127.0.0.1 50000 typ host t=${now()}`, sdpMid: "0", sdpMLineIndex: 0 };
        socket.emit("signal", { sessionId, candidate });
      }, relayInterval);
    }
  });
  socket.on("call:ended", () => {
    clearInterval(pinger);
    if (phase === "match") join(socket);
  });
  socket.on("signal", (s: { candidate?: { candidate: string } }) => {
    const sent = Number(/t=([\d.]+)/.exec(s.candidate?.candidate ?? "")?.[1]);
    if (sent && phase === "relay") latencies.push(now() - sent);
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
process.stdout.write(JSON.stringify({ matches, latencies }) + "\n");
sockets.forEach((s) => s.disconnect());
process.exit(0);
