/** Worker-thread entry: runs one group of bots and talks to the runner by messages. */
import { parentPort, workerData } from "node:worker_threads";
import { runGroup } from "./group.ts";
import type { WorkerInit, WorkerMessage } from "./types.ts";

const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: WorkerMessage) => port.postMessage(m);

try {
  const group = runGroup(init, { leg: (leg) => post({ type: "leg", leg }) });
  const ticker = setInterval(() => post({ type: "counts", worker: init.worker, counts: group.counts() }), 1000);
  port.on("message", (msg: { type: string }) => {
    if (msg.type !== "stop") return;
    clearInterval(ticker);
    void group.stop().then((counts) => {
      post({ type: "done", worker: init.worker, counts });
      // Let the last messages flush before werift's sockets are torn down with the thread.
      setTimeout(() => process.exit(0), 50);
    });
  });
} catch (err) {
  post({ type: "fatal", worker: init.worker, message: (err as Error).message });
}
