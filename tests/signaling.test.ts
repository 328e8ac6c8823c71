import { signalingSuite } from "./signaling.suite.ts";
import { testDev } from "./support/dev.ts";

signalingSuite("one node (vchat dev)", async () => {
  const dev = await testDev({
    config: {
      turn: { secret: "test-turn-secret-0123456789", urls: ["turn:127.0.0.1:3478?transport=udp"] },
      stunUrls: ["stun:127.0.0.1:3478"],
      tuning: { interestWaitMs: 300 },
    },
  });
  return { urls: [dev.url], store: dev.store, stop: () => dev.stop() };
});
