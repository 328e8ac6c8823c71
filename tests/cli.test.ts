/**
 * The `vchat` binary as people drive it: Ctrl-C from a real terminal (a pseudo-terminal made by
 * util-linux `script`) and without one, one-line errors with stable codes, and one JSON document
 * on stdout for every command that was given `--json`, success or failure.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BotsRunReport } from "../cli/commands/bots.ts";
import type { DevServer } from "../server/dev.ts";
import { chromiumPath, hasChromium, launchChromium, screenshot } from "./support/browser.ts";
import { hasScript, onTerminal } from "./support/terminal.ts";
import { coturnInstalled, startCoturn } from "../turn/coturn-process.ts";
import { testDev } from "./support/dev.ts";

const cli = join(import.meta.dirname, "..", "cli", "vchat.ts");
if (!hasScript) console.warn("tests/cli.test.ts: the terminal cases are skipped: `script` (util-linux) is not installed");
const hasCoturn = coturnInstalled();
if (!hasCoturn) console.warn("tests/cli.test.ts: the bots cases are skipped: turnserver (coturn) is not installed");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The binary without a terminal; `interruptWhen` sends SIGINT once the output matches. */
function vchat(
  args: string[],
  opts: { interruptWhen?: RegExp; interruptAfterMs?: number; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
    let stdout = "";
    let stderr = "";
    let sent = false;
    const watch = () => {
      if (opts.interruptWhen && !sent && opts.interruptWhen.test(stdout + stderr)) {
        sent = true;
        child.kill("SIGINT");
      }
    };
    child.stdout.on("data", (d) => ((stdout += d), watch()));
    child.stderr.on("data", (d) => ((stderr += d), watch()));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    const interrupt = opts.interruptAfterMs === undefined ? undefined : setTimeout(() => child.kill("SIGINT"), opts.interruptAfterMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      clearTimeout(interrupt);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The binary on a pseudo-terminal; `interruptWhen` types Ctrl-C once the screen matches. */
async function vchatOnTerminal(
  args: string[],
  interruptWhen: RegExp | null,
  timeoutMs = 60_000,
  env: Record<string, string> = {},
): Promise<{ code: number | null; screen: string }> {
  const run = onTerminal(args, env);
  const timer = setTimeout(() => run.kill(), timeoutMs);
  if (interruptWhen) run.until(interruptWhen, timeoutMs).then(run.ctrlC, () => undefined);
  const code = await run.exit;
  clearTimeout(timer);
  return { code, screen: run.screen() };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "vchat-cli-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!hasCoturn)("Ctrl-C on vchat bots keeps the report and exits 130", () => {
  let dev: DevServer;
  beforeAll(async () => {
    dev = await testDev({ turn: true });
  });
  afterAll(async () => {
    await dev?.stop();
  });

  it.skipIf(!hasScript)(
    "on a terminal: the dashboard gives way to the summary, --json FILE is written",
    async () => {
      const file = join(dir, "tty.json");
      const { code, screen } = await vchatOnTerminal(
        ["bots", "--url", dev.url, "--pairs", "1", "--duration", "5m", "--allow-overload", "--json", file],
        // Colours on: "up 1" is green.
        // eslint-disable-next-line no-control-regex -- an ANSI colour escape may sit before "up"
        /calls: (\x1b\[\d+m)?up 1\b/,
      );
      expect(code, screen).toBe(130);
      expect(screen).toMatch(/interrupted: the report covers what was measured so far/);
      expect(screen).toMatch(/calls: 1\/1 connected/);
      const report = JSON.parse(readFileSync(file, "utf8")) as BotsRunReport;
      expect(report.run).toMatchObject({ command: "bots", url: dev.url, interrupted: true });
      expect(report.summary.connected).toBe(1);
    },
    90_000,
  );

  it("without a terminal: the same, and the verdict is not a pass; --html renders every chart in Chromium with the run's data", async () => {
    const file = join(dir, "pipe.json");
    const html = join(dir, "report.html");
    // Progress lines come every 5 s: the second one with the call up leaves several seconds of media.
    const r = await vchat(["bots", "--url", dev.url, "--pairs", "1", "--duration", "5m", "--allow-overload", "--json", file, "--html", html], {
      interruptWhen: /bots (9|1\d)(\.\d)?s: calls up 1 /,
    });
    expect(r.code, r.stderr).toBe(130);
    expect(r.stdout).toMatch(/interrupted: the report covers what was measured so far/);
    expect(r.stdout).toMatch(/^result: none \(interrupted\)$/m);
    const report = JSON.parse(readFileSync(file, "utf8")) as BotsRunReport;
    expect(report.run.interrupted).toBe(true);
    expect(report.summary.connected).toBe(1);
    if (!hasChromium) return console.warn("tests/cli.test.ts: the HTML report check is skipped: no Chromium at " + chromiumPath);
    const page = readFileSync(html, "utf8");
    // Self-contained: nothing to fetch when it is opened.
    expect(page).not.toMatch(/<script|<link|src=|url\(/i);
    const browser = await launchChromium("absent");
    try {
      const tab = await browser.newPage();
      await tab.route("**", (route) => (route.request().url().startsWith("file:") ? route.continue() : route.abort()));
      await tab.goto(`file://${html}`);
      expect(await tab.textContent("#run")).toContain(dev.url);
      expect(await tab.textContent("#verdict")).toBe("interrupted");
      expect(await tab.textContent("#thresholds")).toMatch(/minConnectedPct/);
      const charts = await tab.$$eval("svg[data-chart]", (svgs) =>
        svgs.map((svg) => ({
          id: svg.getAttribute("data-chart")!,
          width: svg.getBoundingClientRect().width,
          max: Number(svg.getAttribute("data-max")),
          lines: Object.fromEntries([...svg.querySelectorAll("polyline")].map((l) => [l.getAttribute("data-series")!, Number(l.getAttribute("data-points"))])),
        })),
      );
      const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
      expect(Object.keys(byId)).toEqual(["calls", "setup", "loss", "bitrate", "jitter", "delay", "freezes", "cpu", "lag"]);
      // Every chart is drawn and every one of its lines has at least two of the run's seconds.
      for (const c of charts) {
        expect(c.width, c.id).toBeGreaterThan(100);
        for (const [series, points] of Object.entries(c.lines)) expect(points, `${c.id} ${series}`).toBeGreaterThanOrEqual(2);
      }
      // The run's own figures: one call up, setup as the report measured it, the bots' 300 kbps, both threads.
      expect(byId.calls!.max).toBe(1);
      expect(byId.setup!.max).toBeGreaterThanOrEqual(report.summary.setupMs.p50!);
      expect(byId.bitrate!.max).toBeGreaterThan(150);
      expect(byId.bitrate!.max).toBeLessThan(450);
      expect(byId.delay!.max).toBeGreaterThan(0);
      expect(byId.jitter!.max).toBeGreaterThan(0);
      expect(Object.keys(byId.lag!.lines)).toEqual(["main", "worker 0"]);
      expect(Object.keys(byId.cpu!.lines)).toEqual(["process", "main", "worker 0"]);
      await screenshot(tab, "bots-report");
    } finally {
      await browser.close();
    }
  }, 90_000);

  it.skipIf(!hasScript)(
    "a wrong TURN secret: the live view's last error and the final report name the TURN URL that answered 401, never the credentials",
    async () => {
      const wrong = await startCoturn({ mode: "local", secret: "the-turn-servers-own-secret" });
      const service = await testDev({ config: { turn: { secret: "a-different-secret-for-the-credentials", urls: wrong.urls } } });
      try {
        const url = wrong.urls.find((u) => u.includes("transport=udp"))!;
        const file = join(dir, "turn-401.json");
        const { code, screen } = await vchatOnTerminal(
          ["bots", "--url", service.url, "--pairs", "1", "--duration", "8s", "--relay", "only", "--allow-overload", "--json", file],
          null,
        );
        expect(code, screen).toBe(1);
        const live = `last error: no relay candidate: TURN ${url} answered 401 Unauthorized`;
        // The live view drew it before the summary replaced the dashboard.
        expect(screen.indexOf(live), screen).toBeGreaterThanOrEqual(0);
        expect(screen.indexOf(live)).toBeLessThan(screen.indexOf("result: FAIL"));
        expect(screen).not.toMatch(/not in this call/);
        expect(screen).toMatch(new RegExp(`failures \\(per call\\):\\s+×\\d+ +no relay candidate: TURN ${url.replace(/[?.]/g, "\\$&")} answered 401`));
        const report = JSON.parse(readFileSync(file, "utf8")) as BotsRunReport;
        expect(Object.keys(report.summary.failures).join()).toContain(`TURN ${url} answered 401`);
        // TURN REST usernames are `expiry:userId`; neither they nor the secrets reach the screen or the report.
        for (const text of [screen, JSON.stringify(report)]) {
          expect(text).not.toMatch(/\b\d{10}:[\w-]{6,}/);
          expect(text).not.toMatch(/a-different-secret|the-turn-servers-own-secret/);
        }
      } finally {
        await service.stop();
        await wrong.stop();
      }
    },
    90_000,
  );

  it("--turn-transport tls against a service without a TLS TURN URL is a usage error before any bot starts", async () => {
    const r = await vchat(["bots", "--url", dev.url, "--turn-transport", "tls", "--relay", "only", "--pairs", "1", "--duration", "5s"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vchat: VALIDATION_FAILED: .* offers no tls TURN URL \(it offers: udp, tcp\): choose --turn-transport udp$/m);
    expect(r.stderr).not.toMatch(/bots \d+s: up/);
  }, 60_000);
});

describe("Ctrl-C on vchat doctor and vchat dev", () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let port = 0;
  beforeAll(async () => {
    // A TURN server that accepts TCP and never answers: the doctor waits on it until Ctrl-C.
    silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => silent.close(() => r()));
  });

  it("doctor prints the checks so far as JSON and exits 130", async () => {
    const started = Date.now();
    const r = await vchat(["doctor", "--turn", `turn:127.0.0.1:${port}?transport=tcp`, "--secret", "s", "--timeout", "60s", "--no-call", "--json"], {
      interruptAfterMs: 4000,
    });
    expect(r.code, r.stderr).toBe(130);
    expect(Date.now() - started).toBeLessThan(20_000);
    const report = JSON.parse(r.stdout) as { interrupted: boolean; checks: unknown[] };
    expect(report.interrupted).toBe(true);
    expect(report.checks.length).toBeGreaterThan(0);
  }, 30_000);

  it.skipIf(!hasScript)(
    "dev on a terminal stops cleanly and exits 0, as README says",
    async () => {
      const { code, screen } = await vchatOnTerminal(["dev", "--port", "0", "--no-turn", "--db", ":memory:"], /Ctrl-C stops it/);
      expect(code, screen).toBe(0);
      expect(screen).toMatch(/vchat dev stopped/);
    },
    60_000,
  );
});

describe("errors are one line with a stable code", () => {
  const oneLine = (r: Run) => r.stderr.trim().split("\n");

  it("an unknown option is named, --help suggested, no help dumped (exit 2)", async () => {
    const r = await vchat(["bots", "--frob"]);
    expect(r.code).toBe(2);
    expect(oneLine(r)).toEqual(["vchat: USAGE: unknown option '--frob' (see vchat bots --help)"]);
    const typo = await vchat(["doctor", "--timout", "3s"]);
    expect(oneLine(typo)).toEqual(["vchat: USAGE: unknown option '--timout' (Did you mean --timeout?) (see vchat doctor --help)"]);
  });

  it("nonsense values are usage errors up front", async () => {
    for (const [args, line] of [
      [["bots", "--url", "http://127.0.0.1:9", "--duration", "0"], 'vchat: USAGE: --duration must be at least 1s, got "0"'],
      [["doctor", "--url", "http://127.0.0.1:9", "--timeout", "0"], "vchat: USAGE: --timeout must be at least 100ms, got 0ms"],
      [
        ["doctor", "--url", "http://127.0.0.1:9", "--secret", "x"],
        "vchat: USAGE: --secret/--username/--credential are for --turn; with --url the credentials come from the deployment's /api/ice (drop them)",
      ],
    ] as const) {
      const r = await vchat([...args]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(oneLine(r)).toEqual([line]);
    }
  });

  it("a port in use is one line with a code and a hint (exit 1)", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as { port: number }).port;
    try {
      const r = await vchat(["dev", "--port", String(port), "--no-turn", "--db", ":memory:"]);
      expect(r.code).toBe(1);
      expect(oneLine(r)).toEqual([
        `vchat: ADDRESS_IN_USE: 127.0.0.1:${port} is already in use (another vchat? pick another --port, or --port 0 for a free one)`,
      ]);
    } finally {
      taken.close();
    }
  });

  it("with --json every command prints exactly one JSON document on stdout when it fails", async () => {
    const cases: [string[], string, number][] = [
      [["dev", "--port", "99999"], "USAGE", 2],
      [["serve", "--port", "0"], "USAGE", 2],
      [["bots", "--url", "nonsense"], "USAGE", 2],
      [["bots", "--url", "http://127.0.0.1:9", "--duration", "1s"], "UNAVAILABLE", 1],
      [["doctor"], "USAGE", 2],
      [["preview", "--env", "nope"], "USAGE", 2],
      [["up", "--env", "dev"], "", 2],
      [["down", "--env", "prod", "--yes"], "", 2],
      [["outputs", "--env", "nope"], "USAGE", 2],
    ];
    for (const [args, code, exit] of cases) {
      const r = await vchat([...args, "--json"], { env: { VCHAT_JWT_SECRET: "" } });
      expect(r.code, args.join(" ")).toBe(exit);
      const doc = JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } };
      expect(doc.ok, args.join(" ")).toBe(false);
      if (code) expect(doc.error.code, args.join(" ")).toBe(code);
      expect(doc.error.message.length).toBeGreaterThan(0);
    }
  }, 120_000);
});

describe("saved targets, completion, version, colours", () => {
  it("context add / use / ls round trip in $XDG_CONFIG_HOME/vchat (mode 600), and commands use it", async () => {
    const env = { XDG_CONFIG_HOME: join(dir, "config") };
    expect((await vchat(["context", "add", "local", "--url", "http://127.0.0.1:9"], { env })).code).toBe(0);
    expect((await vchat(["context", "add", "other", "--url", "http://127.0.0.2:9"], { env })).code).toBe(0);
    const file = join(dir, "config", "vchat", "contexts.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    let ls = JSON.parse((await vchat(["context", "ls", "--json"], { env })).stdout);
    expect(ls).toMatchObject({ ok: true, current: "local", contexts: { local: { url: "http://127.0.0.1:9" }, other: { url: "http://127.0.0.2:9" } } });
    expect((await vchat(["context", "use", "other"], { env })).code).toBe(0);
    ls = JSON.parse((await vchat(["context", "ls", "--json"], { env })).stdout);
    expect(ls.current).toBe("other");
    // No --url: the current context's; --context picks another; an unknown one is a usage error.
    const current = await vchat(["bots", "--duration", "1s", "--json"], { env });
    expect(JSON.parse(current.stdout).error.message).toMatch(/cannot use http:\/\/127\.0\.0\.2:9/);
    const named = await vchat(["bots", "--context", "local", "--duration", "1s", "--json"], { env });
    expect(JSON.parse(named.stdout).error.message).toMatch(/cannot use http:\/\/127\.0\.0\.1:9/);
    const unknown = await vchat(["bots", "--context", "nope"], { env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe('vchat: USAGE: no context "nope" (have: local, other)');
  }, 60_000);

  it("the bash completion script parses and completes subcommands and their options", async () => {
    const script = (await vchat(["completion", "bash"])).stdout;
    const file = join(dir, "vchat.bash");
    writeFileSync(file, script);
    expect(spawnSync("bash", ["-n", file]).status).toBe(0);
    const complete = (words: string[]) =>
      spawnSync(
        "bash",
        ["-c", `source ${file}; COMP_WORDS=(${words.map((w) => `"${w}"`).join(" ")}); COMP_CWORD=${words.length - 1}; _vchat; echo "\${COMPREPLY[*]}"`],
        { encoding: "utf8" },
      ).stdout.trim();
    expect(complete(["vchat", "bo"])).toBe("bots");
    expect(complete(["vchat", "bots", "--pa"])).toBe("--pairs");
    expect(complete(["vchat", "doctor", "--ti"])).toBe("--timeout");
    expect(complete(["vchat", "co"]).split(" ").sort()).toEqual(["completion", "context"]);
    for (const shell of ["zsh", "fish"]) expect((await vchat(["completion", shell])).stdout).toMatch(/bots/);
    expect((await vchat(["completion", "tcsh"])).stderr.trim()).toBe('vchat: USAGE: shell must be one of bash, zsh, fish, got "tcsh"');
  }, 30_000);

  it("vchat version names vchat, Node, werift and coturn", async () => {
    const v = JSON.parse((await vchat(["version", "--json"])).stdout);
    expect(v).toMatchObject({ ok: true, vchat: expect.stringMatching(/^\d+\.\d+\.\d+/), node: process.versions.node, werift: expect.stringMatching(/^\d+\./) });
    if (hasCoturn) expect(v.coturn).toMatch(/^\d+\.\d+/);
  });

  it.skipIf(!hasScript)(
    "NO_COLOR and --color never turn colours off on a terminal; --color always turns them on",
    async () => {
      const args = ["doctor", "--url", "http://127.0.0.1:9", "--no-call", "--timeout", "500ms"];
      // eslint-disable-next-line no-control-regex -- an ANSI colour escape is what is looked for
      const ansiColour = /\x1b\[3\dm/;
      expect((await vchatOnTerminal(args, null, 30_000)).screen).toMatch(ansiColour);
      expect((await vchatOnTerminal(args, null, 30_000, { NO_COLOR: "1" })).screen).not.toMatch(ansiColour);
      expect((await vchatOnTerminal([...args, "--color", "never"], null, 30_000)).screen).not.toMatch(ansiColour);
      expect((await vchat([...args, "--color", "always"])).stdout).toMatch(ansiColour);
    },
    90_000,
  );
});
