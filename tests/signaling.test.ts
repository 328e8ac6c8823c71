import { startDevServer } from "../server/dev.ts";
import { signalingSuite } from "./signaling.suite.ts";

signalingSuite("one node (vchat dev)", async () => {
  const dev = await startDevServer({
    port: 0,
    db: ":memory:",
    turn: false,
    quiet: true,
    webDir: null,
    config: {
      turn: { secret: "test-turn-secret-0123456789", urls: ["turn:127.0.0.1:3478?transport=udp"] },
      stunUrls: ["stun:127.0.0.1:3478"],
      tuning: { interestWaitMs: 300 },
    },
  });
  return { urls: [dev.url], store: dev.store, stop: () => dev.stop() };
});
