/**
 * The live checklist on a terminal: ink renders each state as it arrives, then the verdict.
 * A stand-in TTY stream records the frames.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { doctorCommand } from "../cli/commands/doctor.ts";
import { coturnInstalled, startCoturn } from "../turn/coturn-process.ts";

const hasCoturn = coturnInstalled();
if (!hasCoturn) console.log("SKIPPED doctor live view test: turnserver (coturn) is not installed");

describe.skipIf(!hasCoturn)("vchat doctor on a terminal", () => {
  it("fills the checklist in live and ends with the verdict", async () => {
    const turn = await startCoturn({ mode: "local" });
    const tty = Object.assign(new PassThrough(), { isTTY: true, columns: 160, rows: 50 });
    let frames = "";
    tty.on("data", (d: Buffer) => (frames += d.toString()));
    try {
      const report = await doctorCommand({ turn: turn.urls, secret: turn.secret, call: false, timeoutMs: 1000 }, false, {
        stdout: tty as unknown as NodeJS.WriteStream,
        setExitCode: () => {},
        // A terminal even when the suite runs in CI (ink would then write only the final frame).
        interactive: true,
      });
      expect(report.exitCode).toBe(0);
      // eslint-disable-next-line no-control-regex
      const text = frames.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "");
      // Seen while running, then finished.
      // The relay burst takes 200 ms or more, so its running state is always drawn.
      expect(text).toMatch(/… Round trip through the relay/);
      expect(text).toMatch(/✔ TURN allocation over UDP/);
      expect(text).toMatch(/Verdict: direct calls likely/);
    } finally {
      await turn.stop();
    }
  });
});
