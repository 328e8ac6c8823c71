/**
 * How far a measured loss (or corruption, or replay) rate may stray from the rate injected: ±1
 * percentage point, widened to 4 standard deviations of the binomial count when the packets are
 * too few for 1 pp (a false failure then has odds of about 1 in 15,000).
 * @example lossWindowPp(5, 2300) // 1.82: 3.18-6.82 % passes
 */
export function lossWindowPp(pct: number, packets: number): number {
  const p = pct / 100;
  return Math.max(1, 400 * Math.sqrt((p * (1 - p)) / packets));
}
