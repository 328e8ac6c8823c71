// The churning users of bench/soak (socket.io-client, no media): each signs up as a guest, joins
// the lobby, and in every call trades an offer, an answer and a few chat lines; after 1-4 s one
// side ends the call (or asks for the next partner) and both join again. A user whose socket
// drops (a killed node, a Redis restart) connects again to the next node in the list.
import { io } from "socket.io-client";
import { request, restClient, type ClientSocket } from "../../protocol/index.ts";

export interface UserStats {
  matches: number;
  chatsSent: number;
  chatsReceived: number;
  reconnects: number;
  /** Refusals by error code (acks and `error` events). */
  errors: Record<string, number>;
}

export interface Users {
  stats: UserStats;
  /** Users connected now. */
  connected(): number;
  /** Every user leaves (sockets closed); resolves once all are closed. */
  stop(): Promise<void>;
}

const rand = (min: number, max: number) => min + Math.random() * (max - min);
const sdp = (type: "offer" | "answer") => ({
  type,
  sdp: `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=soak\r\nt=0 0\r\n` + "a=x-filler:0123456789abcdef\r\n".repeat(40),
});

/** Starts `count` users spread over `urls()` (read again at each reconnect, so a restarted node's new URL is used). */
export async function startUsers(urls: () => string[], count: number): Promise<Users> {
  const stats: UserStats = { matches: 0, chatsSent: 0, chatsReceived: 0, reconnects: 0, errors: {} };
  const sockets = new Set<ClientSocket>();
  let stopping = false;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopping) fn();
    }, ms);
    timers.add(t);
  };
  const failed = (code: string) => (stats.errors[code] = (stats.errors[code] ?? 0) + 1);
  const acked = (res: { ok: true } | { ok: false; error: { code: string } }) => {
    // Acks still pending when the users stop are given up by their closing sockets.
    if (!res.ok && !stopping) failed(res.error.code);
  };

  async function signUp(url: string, i: number): Promise<string> {
    return (await restClient({ baseUrl: url, timeoutMs: 5000 }).call("guest", { nickname: `soak${i}` })).token;
  }

  async function live(i: number, attempt = 0): Promise<void> {
    const list = urls();
    const url = list[(i + attempt) % list.length]!;
    let token: string;
    try {
      token = await signUp(url, i);
    } catch {
      failed("SIGN_UP");
      return later(500 + 250 * Math.min(attempt, 8), () => void live(i, attempt + 1));
    }
    const socket: ClientSocket = io(url, { auth: { token }, transports: ["websocket"], reconnection: false, forceNew: true });
    sockets.add(socket);
    const join = () => void request(socket, "lobby:join", {}).then(acked);
    let call: string | null = null;
    socket.on("connect", () => join());
    socket.on("connect_error", () => {
      sockets.delete(socket);
      socket.close();
      failed("CONNECT");
      later(500 + 250 * Math.min(attempt, 8), () => void live(i, attempt + 1));
    });
    socket.on("disconnect", () => {
      sockets.delete(socket);
      if (stopping) return;
      stats.reconnects++;
      later(rand(200, 800), () => void live(i, attempt + 1));
    });
    socket.on("error", (e) => failed(e.code));
    socket.on("match:found", ({ sessionId, role }) => {
      call = sessionId;
      if (role === "offerer") stats.matches++;
      if (role === "offerer") void request(socket, "signal", { sessionId, description: sdp("offer") }).then(acked);
      for (let n = 0; n < 3; n++) {
        later(rand(100, 900), () => {
          if (call !== sessionId) return;
          void request(socket, "chat:send", { sessionId, text: `hello ${n} from ${i}` }).then(acked);
          stats.chatsSent++;
        });
      }
      if (role === "offerer") {
        later(rand(1000, 4000), () => {
          if (call !== sessionId) return;
          call = null;
          if (Math.random() < 0.5) void request(socket, "call:next", { sessionId }).then(acked);
          else void request(socket, "call:end", { sessionId }).then((res) => (acked(res), later(rand(100, 500), join)));
        });
      }
    });
    socket.on("signal", (s) => {
      if (s.description?.type === "offer") void request(socket, "signal", { sessionId: s.sessionId, description: sdp("answer") }).then(acked);
    });
    socket.on("chat:message", () => stats.chatsReceived++);
    socket.on("call:ended", () => {
      call = null;
      later(rand(100, 500), join);
    });
  }

  for (let i = 0; i < count; i++) {
    void live(i);
    // Spread the sign-ups: a burst of scrypt-free guest sign-ups still costs the node.
    await new Promise((r) => setTimeout(r, 10));
  }

  return {
    stats,
    connected: () => [...sockets].filter((s) => s.connected).length,
    async stop() {
      stopping = true;
      timers.forEach(clearTimeout);
      const all = [...sockets];
      await Promise.all(
        all.map((s) => new Promise<void>((resolve) => (s.connected ? (s.once("disconnect", () => resolve()), s.disconnect()) : (s.close(), resolve())))),
      );
    },
  };
}
