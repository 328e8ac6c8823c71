/**
 * When a relay-only bot gets no relay candidate, asks the TURN server directly why, so the
 * failed call names its cause (wrong secret, unreachable, quota) instead of a bare timeout.
 * werift cannot tell: a 401 signed with a key it does not share fails its MESSAGE-INTEGRITY
 * check and it waits out its retransmissions. The Allocate here is the doctor's TURN client.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { TurnAllocation, TurnError } from "../turn/client.ts";
import { StunSocket } from "../turn/transport.ts";
import { parseTurnUrl } from "./ice.ts";

/**
 * One Allocate with the bot's credentials; resolves to a sentence naming the outcome.
 * `answered` is true when the server itself said no (an error code), as opposed to silence,
 * which on a busy host may only mean slow.
 */
export async function diagnoseTurn(url: string, username: string, credential: string, timeoutMs = 3000): Promise<{ ok: boolean; answered: boolean; reason: string }> {
  let target: ReturnType<typeof parseTurnUrl>;
  try {
    target = parseTurnUrl(url);
  } catch (err) {
    return { ok: false, answered: true, reason: (err as Error).message };
  }
  let socket: StunSocket | undefined;
  try {
    const host = isIP(target.host) ? target.host : (await lookup(target.host)).address;
    socket = await StunSocket.open(target.transport, { host, port: target.port, servername: target.host, timeoutMs });
    const allocation = await TurnAllocation.allocate(socket, { username, password: credential }, { timeoutMs });
    await allocation.close().catch(() => undefined);
    return { ok: true, answered: true, reason: `TURN ${url} allocates for these credentials` };
  } catch (err) {
    if (err instanceof TurnError) {
      const what = err.code === 401 ? "401 Unauthorized: TURN credentials rejected (wrong shared secret or expired credentials)" : err.message;
      return { ok: false, answered: true, reason: `TURN ${url} answered ${what}` };
    }
    const message = (err as Error).message;
    return { ok: false, answered: false, reason: /time/i.test(message) ? `TURN ${url} did not answer within ${timeoutMs / 1000} s (unreachable or filtered)` : `TURN ${url} failed: ${message}` };
  } finally {
    socket?.close();
  }
}
