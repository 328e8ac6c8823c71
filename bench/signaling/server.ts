// One benchmark target in its own process, so that clients and server do not share a core:
// `vchat` is the real `vchat dev` service (file SQLite, no TURN); `bare` is the floor: a plain
// Socket.IO relay with no auth, no validation and no matching beyond "first two waiting".
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server } from "socket.io";
import { startDevServer } from "../../server/dev.ts";

const mode = process.argv[2];

if (mode === "vchat") {
  const dir = mkdtempSync(join(tmpdir(), "vchat-bench-"));
  const dev = await startDevServer({
    port: 0,
    db: join(dir, "bench.db"),
    stateDir: dir,
    turn: false,
    quiet: true,
    webDir: null,
    config: { tuning: { eventsPerSecond: 1000 } },
  });
  process.stdout.write(JSON.stringify({ url: dev.url }) + "\n");
  process.once("SIGTERM", async () => {
    await dev.stop();
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
} else if (mode === "bare") {
  const httpServer = http.createServer();
  const io = new Server(httpServer, { serveClient: false });
  let waiting: string | undefined;
  let next = 0;
  const peerOf = new Map<string, string>();
  io.on("connection", (socket) => {
    socket.on("lobby:join", (_payload, ack) => {
      ack?.({ ok: true });
      if (!waiting || waiting === socket.id) return void (waiting = socket.id);
      const other = waiting;
      waiting = undefined;
      const sessionId = `b${next++}`;
      peerOf.set(socket.id, other).set(other, socket.id);
      io.to(other).emit("match:found", { sessionId, role: "offerer" });
      socket.emit("match:found", { sessionId, role: "answerer" });
    });
    socket.on("signal", (payload) => {
      const peer = peerOf.get(socket.id);
      if (peer) io.to(peer).emit("signal", payload);
    });
    socket.on("call:end", (payload, ack) => {
      const peer = peerOf.get(socket.id);
      peerOf.delete(socket.id);
      if (peer) {
        peerOf.delete(peer);
        io.to(peer).emit("call:ended", { sessionId: payload.sessionId, reason: "ended" });
      }
      ack?.({ ok: true });
    });
  });
  httpServer.listen(0, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}` }) + "\n");
  });
  process.once("SIGTERM", () => io.close(() => process.exit(0)));
} else {
  process.stderr.write("usage: server.ts vchat|bare\n");
  process.exit(2);
}
