// One side of bench/bots-ab: `--calls` relayed (or host) bot calls of the checkout at `--root`,
// run in this process against `--url`; prints its steady window as one JSON line on stdout.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { runBots as RunBots } from "../../bots/run.ts";
import { botsWindow } from "../support/dev.ts";

const { values } = parseArgs({
  options: {
    root: { type: "string" },
    url: { type: "string" },
    calls: { type: "string", default: "50" },
    hold: { type: "string", default: "30" },
    relay: { type: "string", default: "only" },
  },
});
if (!values.root || !values.url) throw new Error("side.ts needs --root DIR and --url URL");
const calls = Number(values.calls);
const hold = Number(values.hold);
const { runBots } = (await import(pathToFileURL(join(values.root, "bots/run.ts")).href)) as { runBots: typeof RunBots };
const w = await botsWindow(
  runBots,
  {
    url: values.url,
    pairs: calls,
    rampPerSec: 25,
    relay: values.relay === "never" ? "never" : "only",
    rtpPath: "bots",
    media: "synthetic",
    bitrateKbps: 300,
    connectTimeoutMs: 45_000,
    allowOverload: true,
  },
  hold,
);
const s = w.report.summary;
console.log(
  JSON.stringify({
    usPerPacket: w.packets > 0 ? (w.cpu * 1e6) / w.packets : null,
    coresPerCall: w.seconds > 0 ? w.cpu / w.seconds / calls : null,
    stalledPct: w.report.host.stalledPct,
    connected: s.connected,
    lossPct: s.lossPct,
  }),
);
// werift's timers of calls torn down can outlive the run by seconds; the figures are out.
process.exit(0);
