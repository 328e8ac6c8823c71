/**
 * The NAT lab's service, run inside the lab's public namespace: `vchat dev` on one public
 * address and coturn on two others (RFC 5780 needs a second address to answer CHANGE-REQUEST),
 * both on port 443 so a network that lets only TCP 443 out still reaches them.
 * Prints one JSON line `{url, turn}` when ready; stops on SIGTERM.
 *
 *   node tests/support/natlab-service.ts SERVICE_ADDR TURN_ADDR TURN_ALT_ADDR
 */
import { startDevServer } from "../../server/dev.ts";
import { startCoturn } from "../../server/turn/coturn-process.ts";

const [serviceAddress, turnAddress, turnAltAddress] = process.argv.slice(2);
if (!serviceAddress || !turnAddress || !turnAltAddress) {
  console.error("usage: natlab-service.ts SERVICE_ADDR TURN_ADDR TURN_ALT_ADDR");
  process.exit(2);
}

const turn = await startCoturn({
  host: turnAddress,
  listeningIps: [turnAddress, turnAltAddress],
  relayIps: [turnAddress],
  listeningPort: 443,
  rfc5780: true,
  // The lab's "internet" is the documentation ranges, which production settings deny as peers.
  allowedPeerIps: ["203.0.113.0-203.0.113.255", "198.51.100.0-198.51.100.255"],
});
const dev = await startDevServer({
  host: serviceAddress,
  port: 443,
  db: ":memory:",
  turn: false,
  quiet: true,
  config: {
    turn: { secret: turn.secret, urls: turn.urls },
    // Parallel cases share this service and pair by interest: never fall back to anyone.
    tuning: { interestWaitMs: 600_000 },
  },
});
process.stdout.write(JSON.stringify({ url: dev.url, turn: turn.urls }) + "\n");

const stop = async () => {
  await dev.stop();
  await turn.stop();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
