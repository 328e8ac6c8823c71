/**
 * NAT behaviour discovery, RFC 5780 §4.3 (mapping) and §4.4 (filtering), against a server that
 * answers with OTHER-ADDRESS and honours CHANGE-REQUEST.
 */
import { attr, changeRequestAttr, message, methods, readAddress, readXorAddress, type TransportAddress } from "../turn/stun.ts";
import { StunSocket, TransportError } from "../turn/transport.ts";
import { localAddressTowards, transportWords, type Outcome } from "./servers.ts";

export const natBehaviours = ["endpoint-independent", "address-dependent", "address-and-port-dependent"] as const;
export type NatBehaviour = (typeof natBehaviours)[number];

export interface NatResult {
  nat: boolean;
  mapping: NatBehaviour;
  filtering: NatBehaviour;
}

const mappedOf = (m: Parameters<typeof readXorAddress>[0]) => readXorAddress(m, attr.xorMappedAddress) ?? readAddress(m, attr.mappedAddress);
const sameAddr = (a?: TransportAddress, b?: TransportAddress) => !!a && !!b && a.address === b.address && a.port === b.port;

export async function checkNat(server: { host: string; port: number } | undefined, timeoutMs: number): Promise<Outcome & { nat?: NatResult }> {
  if (!server) return { status: "skipped", verdict: "inconclusive: no STUN/TURN URL over UDP to test with" };
  // A "no answer" is an answer here (a filtering NAT drops it), so waiting is bounded tighter.
  const quietMs = Math.min(timeoutMs, 1500);
  const sock = await StunSocket.open("udp", { host: server.host, port: server.port, timeoutMs });
  let first;
  try {
    // Test I (§4.3): the plain binding, which also tells us the alternate address.
    first = (await sock.request(message(methods.binding, "request"), { timeoutMs, encode: { fingerprint: true } })).res;
  } catch (err) {
    sock.close();
    // Not a failure of its own: the STUN and TURN checks report the blocked UDP.
    return { status: "warn", verdict: `inconclusive: no STUN answer over UDP (${transportWords(err)})` };
  }
  const other = readAddress(first, attr.otherAddress);
  const mapped1 = mappedOf(first);
  if (!other || !mapped1) {
    sock.close();
    return {
      status: "skipped",
      verdict: "inconclusive: the server does not offer OTHER-ADDRESS (coturn needs two listening IPs and rfc5780 on)",
      details: { reflexive: mapped1 },
    };
  }
  const local = await localAddressTowards(server.host, server.port);
  const nat = !(mapped1.address === local && mapped1.port === sock.local.port);
  const details: Record<string, unknown> = { reflexive: mapped1, otherAddress: other, local: { address: local, port: sock.local.port } };
  let mapping: NatBehaviour;
  try {
    // Test II: the alternate IP, primary port. Test III: the alternate IP and port.
    const r2 = (await sock.request(message(methods.binding, "request"), { timeoutMs, to: { address: other.address, port: server.port }, encode: { fingerprint: true } })).res;
    const mapped2 = mappedOf(r2);
    details.mappedViaOtherIp = mapped2;
    if (sameAddr(mapped1, mapped2)) mapping = "endpoint-independent";
    else {
      const r3 = (await sock.request(message(methods.binding, "request"), { timeoutMs, to: { address: other.address, port: other.port }, encode: { fingerprint: true } })).res;
      const mapped3 = mappedOf(r3);
      details.mappedViaOtherIpPort = mapped3;
      mapping = sameAddr(mapped2, mapped3) ? "address-dependent" : "address-and-port-dependent";
    }
  } catch (err) {
    sock.close();
    return { status: "warn", verdict: `inconclusive: the alternate address ${other.address}:${other.port} does not answer (${transportWords(err)})`, details };
  }
  sock.close();

  // Filtering (§4.4) on a fresh socket: the mapping tests opened the NAT towards the alternate address.
  const fsock = await StunSocket.open("udp", { host: server.host, port: server.port, timeoutMs });
  let filtering: NatBehaviour;
  try {
    const answered = async (changeIp: boolean, changePort: boolean) => {
      try {
        await fsock.request(message(methods.binding, "request", [changeRequestAttr(changeIp, changePort)]), { timeoutMs: quietMs, encode: { fingerprint: true } });
        return true;
      } catch (err) {
        if (err instanceof TransportError && err.code === "TIMEOUT") return false;
        throw err;
      }
    };
    await fsock.request(message(methods.binding, "request"), { timeoutMs, encode: { fingerprint: true } });
    if (await answered(true, true)) filtering = "endpoint-independent";
    else filtering = (await answered(false, true)) ? "address-dependent" : "address-and-port-dependent";
  } catch (err) {
    return { status: "warn", verdict: `inconclusive: filtering test failed (${transportWords(err)})`, details };
  } finally {
    fsock.close();
  }
  const result = { nat, mapping, filtering };
  Object.assign(details, result);
  const words = (b: NatBehaviour) => b.replace(/-/g, " ");
  const prefix = nat ? "behind NAT" : "no NAT between you and the server";
  const verdict = `${prefix}: ${words(mapping)} mapping, ${words(filtering)} filtering`;
  if (mapping !== "endpoint-independent")
    return { status: "warn", nat: result, verdict: `${verdict}: a symmetric NAT, so calls from here need TURN`, details };
  return { status: "pass", nat: result, verdict: `${verdict}${filtering === "endpoint-independent" ? "" : " (peers reach you after you contact them)"}`, details };
}
