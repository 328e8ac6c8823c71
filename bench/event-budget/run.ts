// bench/event-budget: what counting one socket event costs the server, with the per-socket
// budget of server/signaling/budget.ts against the limiter it replaced (rate-limiter-flexible's
// RateLimiterMemory, one awaited consume per event), in the same run, with the ratio.
// Bounded: a fixed number of events spread over a fixed number of sockets, under budget.
//
//   node bench/event-budget/run.ts [--sockets 1000] [--events 300000]
import { parseArgs } from "node:util";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { eventBudget } from "../../server/signaling/budget.ts";

const { values } = parseArgs({ options: { sockets: { type: "string", default: "1000" }, events: { type: "string", default: "300000" } } });
const SOCKETS = Math.max(1, Math.min(Number(values.sockets), 100_000));
const EVENTS = Math.max(1000, Math.min(Number(values.events), 5_000_000));
const perSecond = 1_000_000; // never over budget: the common path is what is measured

async function limiter(): Promise<number> {
  const events = new RateLimiterMemory({ keyPrefix: "events", points: perSecond, duration: 1 });
  const ids = Array.from({ length: SOCKETS }, (_, i) => `socket-${i}`);
  const started = process.hrtime.bigint();
  for (let i = 0; i < EVENTS; i++) await events.consume(ids[i % SOCKETS]!);
  return Number(process.hrtime.bigint() - started) / EVENTS;
}

async function budget(): Promise<number> {
  const budgets = Array.from({ length: SOCKETS }, () => eventBudget({ perSecond, abuseSeconds: 3 }));
  const started = process.hrtime.bigint();
  // Awaited as well, so both loops carry the same overhead; the middleware itself does not await.
  // eslint-disable-next-line @typescript-eslint/await-thenable -- awaited on purpose, as said above
  for (let i = 0; i < EVENTS; i++) if ((await budgets[i % SOCKETS]!.take()) !== "ok") throw new Error("over budget");
  return Number(process.hrtime.bigint() - started) / EVENTS;
}

// The machine is shared: warm both up, then alternate them for several rounds and compare medians.
await limiter();
await budget();
const rounds = { before: [] as number[], now: [] as number[] };
for (let i = 0; i < 7; i++) {
  rounds.before.push(await limiter());
  rounds.now.push(await budget());
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const old = median(rounds.before);
const now = median(rounds.now);
console.log(`events: ${EVENTS} over ${SOCKETS} sockets, median of ${rounds.now.length} alternating rounds`);
console.log(`RateLimiterMemory.consume (before): ${old.toFixed(0)} ns/event`);
console.log(`eventBudget.take (now):             ${now.toFixed(0)} ns/event`);
console.log(`ratio now/before: ${(now / old).toFixed(3)}x (lower is cheaper)`);
