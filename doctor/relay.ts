/**
 * A measured round trip through the relay between two allocations on the same server: A sends
 * on a channel to B's relayed address, B's client echoes it back the same way. This is the path
 * media takes when both peers of a call need TURN.
 */
import { TurnError } from "../turn/client.ts";
import { isPublic, openAllocation, transportWords, type Outcome, type ServerTarget } from "./servers.ts";

export interface RelayOptions {
  timeoutMs: number;
  /** Probes in the burst. @default 20 */
  count?: number;
  /** Gap between probes in ms. @default 10 */
  intervalMs?: number;
}

export async function checkRelay(target: ServerTarget | undefined, ip: string | undefined, opts: RelayOptions): Promise<Outcome> {
  if (!target || !ip || !target.creds) return { status: "skipped", verdict: "no working TURN transport to relay through" };
  const count = opts.count ?? 20;
  const interval = opts.intervalMs ?? 10;
  let a, b;
  try {
    [a, b] = await Promise.all([openAllocation(target, ip, opts.timeoutMs), openAllocation(target, ip, opts.timeoutMs)]);
  } catch (err) {
    return { status: "fail", verdict: `could not allocate two relays: ${transportWords(err)}` };
  }
  const channel = 0x4000;
  try {
    try {
      // ChannelBind also installs the permission for the peer (RFC 8656 §12).
      await Promise.all([a.channelBind(channel, b.relayed), b.channelBind(channel, a.relayed)]);
    } catch (err) {
      if (err instanceof TurnError && err.code === 403 && !isPublic(a.relayed.address)) {
        return {
          status: "skipped",
          verdict: `the server refuses to relay to its own non-public relayed address ${a.relayed.address} (production settings on a private or loopback server); cannot measure here`,
        };
      }
      return { status: "fail", verdict: `the server refused a channel between two allocations: ${(err as Error).message}` };
    }
    b.onData(({ channel: ch, data }) => {
      if (ch === channel) b.sendChannelData(channel, data);
    });
    const sentAt = new Map<number, number>();
    const rtts = new Map<number, number>();
    let resolveAll!: () => void;
    const allBack = new Promise<void>((r) => (resolveAll = r));
    a.onData(({ channel: ch, data }) => {
      if (ch !== channel || data.length < 4) return;
      const seq = data.readUInt32BE(0);
      const t = sentAt.get(seq);
      if (t !== undefined && !rtts.has(seq)) rtts.set(seq, performance.now() - t);
      if (rtts.size === count) resolveAll();
    });
    const payload = Buffer.alloc(160); // about one 20 ms Opus frame
    for (let seq = 0; seq < count; seq++) {
      payload.writeUInt32BE(seq, 0);
      sentAt.set(seq, performance.now());
      a.sendChannelData(channel, payload);
      await new Promise((r) => setTimeout(r, interval));
    }
    // Late probes count as lost after a bounded wait.
    const wait = Math.min(opts.timeoutMs, 1000);
    await Promise.race([allBack, new Promise((r) => setTimeout(r, wait))]);
    const ordered = [...rtts.entries()].sort((x, y) => x[0] - y[0]).map(([, v]) => v);
    const lost = count - ordered.length;
    const lossPct = Math.round((lost / count) * 1000) / 10;
    const details: Record<string, unknown> = { transport: target.url.transport, probes: count, received: ordered.length, lossPct };
    if (ordered.length === 0) return { status: "fail", verdict: `no probe came back through the relay (${count} sent)`, details };
    const sorted = [...ordered].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    // Jitter as RFC 3550 §6.4.1 smooths it, over the successive round trips.
    let jitter = 0;
    for (let i = 1; i < ordered.length; i++) jitter += (Math.abs(ordered[i]! - ordered[i - 1]!) - jitter) / 16;
    const r1 = (x: number) => Math.round(x * 10) / 10;
    Object.assign(details, { rttMedianMs: r1(median), rttMinMs: r1(sorted[0]!), rttMaxMs: r1(sorted.at(-1)!), jitterMs: r1(jitter) });
    const verdict = `${ordered.length}/${count} probes back over ${target.url.transport.toUpperCase()}, RTT ${r1(median)} ms (median), jitter ${r1(jitter)} ms, loss ${lossPct} %`;
    if (lossPct > 5 || median > 300) return { status: "warn", verdict: `${verdict}: calls through this relay will stutter`, details };
    return { status: "pass", verdict, details };
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}
