/**
 * How the V8 heaps of a process running bots are sized and swept. A bot thread keeps a large live
 * heap (~440 KB a bot, mostly werift's connection) and makes garbage at every RTP packet (Node's
 * cipher objects and their buffers, one per packet each way, and the buffer of every datagram
 * received), some of which lives long enough to be promoted: both generations are tuned for that,
 * and the buffers' memory is freed by the thread that made it.
 */
import { setFlagsFromString } from "node:v8";

/**
 * A bot thread's young generation, MB. In the sixth round a scavenge's pause was mostly Node's
 * weak callbacks for the cipher objects made since the last one (`--trace-gc`'s external time),
 * one per RTP packet each way: with V8's default (about 50 MB here) a thread of 100 relayed bots
 * paused 11-36 ms per scavenge, and a pause of 20 ms or more is a stall to the bots' own overload measure
 * (`overload.ts`). At 16 MB the pauses are shorter and more frequent for the same total: at 150
 * relayed calls the threads were stalled 3.2-6.2 % of the run against 10.2-10.5 % (alternating
 * runs), for the same CPU per packet (`bench/bots-ab`, 4 rounds side by side: median ratio
 * 1.007). 8 MB did no better. In the eighth, at 16 MB and 150 relayed calls: 4-8 ms a scavenge,
 * its external time under 0.1 ms.
 */
export const youngGenerationMb = 16;

/**
 * The old generation grows to twice its live size before the next full GC (V8's
 * `--heap-growing-percent`; 0, its default, picks a factor from the measured GC and allocation
 * speeds, which came out at 1.2-1.3 for bot threads). At 150 relayed calls a thread's live heap
 * is ~66 MB, so the old generation filled every 3-4 s: a full GC each time, 250-470 ms of
 * marking (V8's helper threads) and a 7-17 ms pause, around 25-45 % of the lags of 30 ms or more.
 * At twice the live size: a third to a half of the full GCs, the threads stalled 0.59-0.8 % of
 * the run against 3.98-6.64 %, and 5-11 % less CPU per packet (alternating runs, 3 each); at 100
 * relayed calls 0-5 % less. It costs memory: up to ~50 MB more heap per thread at 150 relayed
 * calls (a limit of ~130 MB instead of ~85).
 */
export const heapGrowingPercent = 100;

/**
 * V8 frees the memory of dead `ArrayBuffer`s (every `Buffer` Node makes outside its pool: a
 * datagram received, a cipher's output) on a helper thread by default. Every such `free` then
 * contends for glibc's arena with the bot thread's own `malloc`s, and where a system call costs
 * much (a PVM guest, 2026-12-02) the futex waits and wakes of that lock add up: Node's AES-GCM
 * cipher object for a 1,100-byte packet cost 12.7-13.7 µs of CPU there in a loop, 4.0-5.0 µs with
 * the buffers freed by the thread itself. In the bots, side by side (`bench/bots-ab`, 50 relayed
 * calls, two runs of 4 rounds): B/A 1.010, 0.936, 0.959, 0.926 (median 0.947) and 0.902, 0.975,
 * 0.950, 0.938 (median 0.944), the threads' stalls alike. A scavenge's pause grows by the frees it
 * now makes.
 */
export const arrayBufferSweepFlag = "--no-concurrent-array-buffer-sweeping";

let tuned = false;

/**
 * Sets the old generation's growing factor and which thread frees dead buffers, for every heap
 * of this process (a V8 flag is global; V8 reads these at each GC, so they hold for threads
 * started before and after). Once per process, before the first bot starts.
 */
export function tuneHeaps(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
  setFlagsFromString(arrayBufferSweepFlag);
}
