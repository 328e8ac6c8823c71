// bench/bots-ab: CPU per RTP packet of two bots builds (or one build under two settings), run at
// the same time, so that the host's noise hits both alike. Each side has its own `vchat dev` and
// coturn (one server would match bots of A with bots of B); they swap servers every round.
// Run one after the other, the same bots code here differed by up to 28 % (bench/bots-density);
// side by side, an A/A run (the defaults: this checkout twice) shows what is left of that noise.
//
//   node bench/bots-ab/run.ts [--a DIR] [--b DIR] [--a-node="FLAGS"] [--b-node="FLAGS"]
//     [--a-env "K=V ..."] [--b-env "K=V ..."] [--calls 50] [--hold 30] [--rounds 3] [--relay only|never]
//
// Node flags start with a dash, so they take `=` (`--b-node="--max-semi-space-size=8"`): with a
// space, the option parser reads them as an option of their own and stops.
//
// DIR is a checkout with its node_modules (e.g. `git worktree add`, then link node_modules); its
// `runBots` must take today's options. Each side is a process of its own (`side.ts`); which one
// starts first alternates by round. The ratio B/A per round and its median are what to read.
import { parseArgs } from "node:util";
import { startDev } from "../support/dev.ts";
import { lines, spawnNode, stop } from "../support/process.ts";

const { values } = parseArgs({
  options: {
    a: { type: "string", default: new URL("../..", import.meta.url).pathname },
    b: { type: "string", default: new URL("../..", import.meta.url).pathname },
    "a-node": { type: "string", default: "" },
    "b-node": { type: "string", default: "" },
    "a-env": { type: "string", default: "" },
    "b-env": { type: "string", default: "" },
    calls: { type: "string", default: "50" },
    hold: { type: "string", default: "30" },
    rounds: { type: "string", default: "3" },
    relay: { type: "string", default: "only" },
  },
});
const calls = Math.min(Math.max(1, Number(values.calls)), 200);
const hold = Math.min(Math.max(10, Number(values.hold)), 120);
const rounds = Math.min(Math.max(1, Number(values.rounds)), 20);
const relay = values.relay === "never" ? "never" : "only";

interface SideResult {
  usPerPacket: number | null;
  coresPerCall: number | null;
  stalledPct: number;
  connected: number;
  lossPct: number | null;
}
interface Side {
  name: "A" | "B";
  root: string;
  node: string[];
  env: Record<string, string>;
}
const words = (s: string) => s.split(/\s+/).filter(Boolean);
const side = (name: Side["name"], root: string, node: string, env: string): Side => ({
  name,
  root,
  node: words(node),
  env: Object.fromEntries(words(env).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])),
});
const sides = [side("A", values.a, values["a-node"], values["a-env"]), side("B", values.b, values["b-node"], values["b-env"])] as const;

async function runSide(s: Side, url: string): Promise<SideResult> {
  const script = new URL("./side.ts", import.meta.url).pathname;
  const args = [...s.node, script, "--root", s.root, "--url", url, "--calls", String(calls), "--hold", String(hold), "--relay", relay];
  const child = spawnNode(args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...s.env } });
  const next = lines(child, `side ${s.name}`);
  try {
    return JSON.parse(await next()) as SideResult;
  } finally {
    await stop(child);
  }
}

const fmt = (r: SideResult) =>
  `${r.usPerPacket?.toFixed(1) ?? "-"} µs/packet, ${r.coresPerCall?.toFixed(4) ?? "-"} cores/call, stalled ${r.stalledPct} %, ${r.connected}/${calls} connected, loss ${r.lossPct ?? "-"} %`;
// Host calls need no TURN: no idle coturn beside each side.
const devs = [await startDev({ turn: relay === "only" }), await startDev({ turn: relay === "only" })] as const;
console.log(`bots-ab: ${calls} ${relay === "only" ? "relayed" : "host"} calls a side, ${hold} s held, ${rounds} rounds`);
for (const s of sides) console.log(`  ${s.name}: ${s.root} ${[...s.node, ...Object.entries(s.env).map(([k, v]) => `${k}=${v}`)].join(" ")}`.trimEnd());
const ratios: number[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 ? sides : ([sides[1], sides[0]] as const);
    const first = runSide(order[0], devs[0].url);
    await new Promise((r) => setTimeout(r, 1000));
    const [r0, r1] = await Promise.all([first, runSide(order[1], devs[1].url)]);
    const [a, b] = order[0].name === "A" ? [r0, r1] : [r1, r0];
    const ratio = a.usPerPacket && b.usPerPacket ? b.usPerPacket / a.usPerPacket : null;
    if (ratio !== null) ratios.push(ratio);
    console.log(`round ${round}: A ${fmt(a)}\n         B ${fmt(b)}\n         B/A ${ratio?.toFixed(3) ?? "-"}`);
  }
} finally {
  await Promise.all(devs.map((d) => stop(d.child)));
}
ratios.sort((x, y) => x - y);
const mid = ratios.length / 2;
const median = ratios.length % 2 ? ratios[Math.floor(mid)]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
if (ratios.length)
  console.log(`B/A CPU per packet: median ${median.toFixed(3)} (${ratios[0]!.toFixed(3)}-${ratios.at(-1)!.toFixed(3)} over ${ratios.length} rounds)`);
