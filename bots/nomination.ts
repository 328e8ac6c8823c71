/**
 * Which candidate pair a bot's ICE agent sends on.
 *
 * werift 0.25 nominates UDP pairs aggressively (every check of the controlling agent carries
 * USE-CANDIDATE) and then keeps the first pair nominated, on both sides. Through real NATs that
 * is often a pair ending on a relay: it answers at once, while a direct pair must wait until
 * both NATs are open. With aggressive nomination the agents should settle on the
 * highest-priority nominated pair (RFC 5245 §8.1.1.2); libwebrtc does. Against Chromium behind a
 * cone NAT, werift went on sending through TURN while the browser had moved to the direct pair
 * (tests/natlab-ice.test.ts). Here a bot's agent moves to a nominated pair of higher priority
 * whenever one succeeds; werift's consent checks and sends follow its `nominated` pair.
 */
import type { RTCPeerConnection } from "werift";

/** What this module uses of werift's ICE `Connection` (its internals, checked against 0.25). */
interface Pair {
  state: number;
  nominated: boolean;
}
interface Agent {
  nominated?: Pair;
  /** Sorted by pair priority, highest first (werift sorts on every insert). */
  checkList: Pair[];
  checkComplete(pair: Pair): void;
}

// werift's CandidatePairState.SUCCEEDED.
const succeeded = 3;

export function preferBestNominatedPair(pc: RTCPeerConnection): void {
  for (const transport of pc.iceTransports) {
    const agent = transport.connection as unknown as Agent & { vchatBestPair?: true };
    if (agent.vchatBestPair || typeof agent.checkComplete !== "function") continue;
    agent.vchatBestPair = true;
    const checkComplete = agent.checkComplete.bind(agent);
    agent.checkComplete = (pair) => {
      const current = agent.nominated;
      if (current && pair !== current && pair.nominated && pair.state === succeeded) {
        const rank = agent.checkList.indexOf(pair);
        if (rank !== -1 && rank < agent.checkList.indexOf(current)) agent.nominated = pair;
      }
      checkComplete(pair);
    };
  }
}
