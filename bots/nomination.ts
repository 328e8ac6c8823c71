/**
 * Which candidate pair a bot's ICE agent nominates when it is the controlling one.
 *
 * werift 0.25 nominates the first UDP pair whose check succeeds (RFC 8445 §8.1.1 leaves the
 * stopping rule to the agent). Through real NATs that is often a pair ending on a relay: it
 * answers at once, while a direct pair must wait until both NATs are open. Browsers (libwebrtc)
 * keep checking and select the best pair, so a bot would relay calls a browser makes directly
 * (Chromium behind one cone NAT and a bot behind another: tests/natlab-ice.test.ts). werift
 * already nominates TCP pairs the better way: the highest-priority pair once every better pair
 * has finished. Here that rule covers UDP pairs too, bounded: `settleMs` after the first
 * success the best pair that has succeeded is nominated, so a relayed call waits at most that.
 *
 * As the controlled agent, werift keeps the first pair the partner nominated. Chromium, when
 * controlling, nominates the first pair that works (often the relay) and nominates a better one
 * as it finds it; it then sends on the new pair while werift went on sending through the relay.
 * Here the controlled agent follows the partner's latest nomination, as libwebrtc does.
 */
import type { RTCPeerConnection } from "werift";
import { now } from "./clock.ts";

/** What this module uses of werift's ICE `Connection` (its internals, checked against 0.25). */
interface Agent {
  iceControlling: boolean;
  remoteIsLite?: boolean;
  nominated?: unknown;
  nominating: boolean;
  /** Sorted, highest priority first (werift sorts on every insert). */
  checkList: Array<{ state: number }>;
  usesTcpRegularNomination(pair: unknown): boolean;
  nominateTcpPairIfReady(): void;
  nominateTcpPair(pair: unknown): void;
  checkComplete(pair: { state: number; nominated: boolean }): void;
}

// werift's CandidatePairState values.
const succeeded = 3;
const failed = 4;

/** @default settleMs 1000 */
export function nominateBestPair(pc: RTCPeerConnection, settleMs = 1000): void {
  for (const transport of pc.iceTransports) {
    const agent = transport.connection as unknown as Agent & { vchatBestPair?: true };
    if (agent.vchatBestPair || typeof agent.nominateTcpPair !== "function") continue;
    agent.vchatBestPair = true;
    let firstSuccessAt: number | null = null;
    let timer: NodeJS.Timeout | null = null;
    const checkComplete = agent.checkComplete.bind(agent);
    agent.checkComplete = (pair) => {
      if (!agent.iceControlling && pair.nominated && pair.state === succeeded && agent.nominated && agent.nominated !== pair) agent.nominated = pair;
      checkComplete(pair);
    };
    agent.usesTcpRegularNomination = () => agent.iceControlling && !agent.remoteIsLite;
    agent.nominateTcpPairIfReady = () => {
      if (!agent.iceControlling || agent.remoteIsLite || agent.nominated || agent.nominating) return;
      const best = agent.checkList.find((p) => p.state === succeeded);
      if (!best) return;
      firstSuccessAt ??= now();
      for (const pair of agent.checkList) {
        if (pair === best) return agent.nominateTcpPair(pair);
        if (pair.state !== failed) break; // a better pair may still succeed
      }
      const waited = now() - firstSuccessAt;
      if (waited >= settleMs) return agent.nominateTcpPair(best);
      timer ??= setTimeout(() => {
        timer = null;
        agent.nominateTcpPairIfReady();
      }, settleMs - waited);
      timer.unref();
    };
  }
}
