/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across worker threads of
 * one process (each thread's `performance.timeOrigin` is an absolute epoch time). One-way delay
 * is receive time minus the send time carried in the packet, so sender and receiver must share
 * this clock: they do when the bots run on one host, which is how `vchat bots` measures.
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}
