import { EventEmitter } from "node:events";
import { render } from "ink";
import React from "react";
import { describe, expect, it } from "vitest";
import type { BotsReport } from "../bots/report.ts";
import { hostReport, summarize } from "../bots/report.ts";
import type { LoopStats } from "../bots/overload.ts";
import type { Progress } from "../bots/run.ts";
import { BotsDashboard, summaryText } from "../cli/ui/bots.ts";

/** A stdout ink can write to, keeping the last frame. */
function fakeStdout() {
  const out = Object.assign(new EventEmitter(), {
    columns: 120,
    rows: 40,
    isTTY: true,
    frames: [] as string[],
    write(s: string) {
      out.frames.push(s);
      return true;
    },
  });
  return out;
}

const progress: Progress = {
  elapsedS: 12.5,
  durationS: 30,
  bots: { total: 20, starting: 0, waiting: 2, connecting: 3, up: 14 },
  calls: { up: 7, connected: 9, failed: 1 },
  connectedPerS: 0.72,
  packets: { expected: 1000, lost: 5 },
  lossPct: 0.5,
  setupP50Ms: 800,
  setupP95Ms: 1200,
  media: { kbpsPerLeg: 298.4, jitterMs: 1.2, delayMs: 3.4, freezes: 0 },
  errors: 1,
  lastError: "no relay candidate: TURN turn:127.0.0.1:3478?transport=udp answered 401 Unauthorized",
  cpuPct: 190,
  cores: 2,
  loopLagMs: 80,
  workers: 2,
  threads: [
    { worker: "main", cpuPct: 10, loopLagMs: 5 },
    { worker: "worker 0", cpuPct: 90, loopLagMs: 80 },
  ],
};

describe("vchat bots views", () => {
  it("the dashboard shows calls, loss, setup and the bot host's own load", () => {
    const stdout = fakeStdout();
    const app = render(React.createElement(BotsDashboard, { progress, url: "http://127.0.0.1:8080" }), {
      stdout: stdout as unknown as NodeJS.WriteStream,
      patchConsole: false,
      exitOnCtrlC: false,
    });
    app.unmount();
    const text = stdout.frames.join("");
    for (const part of [
      "calls: up 7",
      "connected 9",
      "failed 1",
      "connected/s 0.72",
      "connecting 3",
      "loss 0.5 %",
      "setup p50 800 ms",
      "p95 1200 ms",
      "298.4 kbps",
      "jitter 1.2 ms",
      "delay 3.4 ms",
      "CPU 190 % of one core (2 cores)",
      "lag p99 80 ms",
      "overloaded",
      "last error: no relay candidate: TURN turn:127.0.0.1:3478?transport=udp answered 401",
    ])
      expect(text).toContain(part);
  });

  it("the summary table has p50/p95/max and n of every figure, per leg, and the verdict", () => {
    const { summary, calls } = summarize([], { bots: 2, unmatchedBots: 2, durationS: 5, expectedCalls: 1 });
    const thread = (name: string, over: Partial<LoopStats> = {}): LoopStats => ({
      thread: name,
      samples: 500,
      lagP50Ms: 0.1,
      lagP99Ms: 1.5,
      lagMaxMs: 4,
      stalledMs: 0,
      stalledPct: 0,
      observedMs: 5000,
      ...over,
    });
    const host = hostReport([thread("main"), thread("worker 0")], 20, 1);
    const report: BotsReport = {
      summary,
      calls,
      thresholds: [{ name: "minConnectedPct", limit: 95, value: 0, ok: false }],
      valid: true,
      invalidReason: null,
      pass: false,
      host,
      errors: { count: 0, sample: [] },
    };
    const text = summaryText(report);
    expect(text).toMatch(/calls: 0\/1 connected/);
    expect(text).toMatch(/figure\s+p50\s+p95\s+max\s+n/);
    expect(text).toMatch(/matched → first media \(setup\), per leg/);
    expect(text).toMatch(/audio jitter mean \(RFC 3550\), per leg/);
    expect(text).toMatch(/one-way delay, per packet \(n 0\)/);
    expect(text).toMatch(/FAIL {2}minConnectedPct ≥ 95: 0/);
    expect(text).toMatch(/result: FAIL/);
    expect(text).not.toMatch(/warning|invalid/);
    // The data channel's ping has a row only when a run opened data channels (--data-channel).
    expect(text).toMatch(/RTT RTCP median, per leg/);
    expect(text).not.toMatch(/RTT ping/);
    const pinged = summaryText({ ...report, summary: { ...summary, rttMs: { ...summary.rttMs, count: 2, p50: 1.5, p95: 2, max: 2 } } });
    expect(pinged).toMatch(/RTT ping \(data channel\), per leg \(ms\)\s+1\.5\s+2\s+2\s+2/);
    // 25 ms of lag at p99 is a warning; a thread stalled 25 % of the run makes the run invalid.
    const lagging = summaryText({ ...report, host: hostReport([thread("main"), thread("worker 0", { lagP99Ms: 25, lagMaxMs: 30 })], 20, 1) });
    expect(lagging).toMatch(/warning: event-loop lag p99 of worker 0 25 ms/);
    const stalled = hostReport([thread("main"), thread("worker 0", { lagP99Ms: 250, lagMaxMs: 251, stalledPct: 25 })], 20, 1);
    expect(stalled.overloaded).toMatch(/worker 0 was stalled 25 %/);
  });
});
