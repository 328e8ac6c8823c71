/**
 * The NAT lab's service, run inside the lab's public namespace: `vchat dev` on one public
 * address and coturn on two others (RFC 5780 needs a second address to answer CHANGE-REQUEST),
 * both on port 443 so a network that lets only TCP 443 out still reaches them. With openssl,
 * coturn also speaks TLS, on that same port (coturn tells TLS from plain TCP by the first
 * bytes), with a self-signed certificate for its address: clients trust it through
 * NODE_EXTRA_CA_CERTS=<certFile>. Prints one JSON line `{url, turn, certFile}` when ready;
 * stops on SIGTERM.
 *
 *   node tests/support/natlab-service.ts SERVICE_ADDR TURN_ADDR TURN_ALT_ADDR
 */
import { startDevServer } from "../../server/dev.ts";
import { startCoturn } from "../../turn/coturn-process.ts";
import { selfSignedCert } from "../../turn/testing/coturn.ts";

const [serviceAddress, turnAddress, turnAltAddress] = process.argv.slice(2);
if (!serviceAddress || !turnAddress || !turnAltAddress) {
  console.error("usage: natlab-service.ts SERVICE_ADDR TURN_ADDR TURN_ALT_ADDR");
  process.exit(2);
}

const cert = (() => {
  try {
    return selfSignedCert(30, { cn: "natlab-turn", names: [turnAddress] });
  } catch (err) {
    console.error(`natlab-service: no TLS (${(err as Error).message})`);
    return null;
  }
})();
const tls = cert && { certFile: cert.certFile, keyFile: cert.keyFile };

const turn = await startCoturn({
  host: turnAddress,
  listeningIps: [turnAddress, turnAltAddress],
  relayIps: [turnAddress],
  listeningPort: 443,
  rfc5780: true,
  // The lab's "internet" is the documentation ranges, which production settings deny as peers.
  allowedPeerIps: ["203.0.113.0-203.0.113.255", "198.51.100.0-198.51.100.255"],
  ...(tls ? { tls } : {}),
});
// TLS on 443 too, where a network that lets only HTTPS out can reach it.
const turnUrls = turn.urls.map((u) => (u.startsWith("turns:") ? `turns:${turnAddress}:443?transport=tcp` : u));
const dev = await startDevServer({
  host: serviceAddress,
  port: 443,
  db: ":memory:",
  turn: false,
  quiet: true,
  config: {
    turn: { secret: turn.secret, urls: turnUrls },
    // Parallel cases share this service and pair by interest: never fall back to anyone.
    tuning: { interestWaitMs: 600_000 },
  },
});
process.stdout.write(JSON.stringify({ url: dev.url, turn: turnUrls, certFile: tls?.certFile ?? null }) + "\n");

const stop = async () => {
  await dev.stop();
  await turn.stop();
  cert?.cleanup();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
