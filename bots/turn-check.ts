/**
 * Picks the TURN URL a bot uses and, when no relay candidate came, asks the TURN server directly
 * why, so a failed relay-only call names its cause (wrong secret, unreachable, quota) instead of
 * a bare timeout.
 */
import { createTurnClient } from "werift";
import { parseTurnUrl } from "./ice.ts";

/** STUN/TURN error codes a user can act on (RFC 8656 §18). */
const turnErrors: Record<number, string> = {
  401: "401 Unauthorized: TURN credentials rejected (wrong shared secret or expired credentials)",
  403: "403 Forbidden",
  437: "437 Allocation Mismatch",
  441: "441 Wrong Credentials",
  486: "486 Allocation Quota Reached",
  508: "508 Insufficient Capacity (relay ports exhausted)",
};

/** One Allocate with the bot's credentials; resolves to a sentence naming the outcome. */
export async function diagnoseTurn(url: string, username: string, credential: string, timeoutMs = 5000): Promise<string> {
  let target: ReturnType<typeof parseTurnUrl>;
  try {
    target = parseTurnUrl(url);
  } catch (err) {
    return (err as Error).message;
  }
  const attempt = createTurnClient(
    { address: [target.host, target.port], username, password: credential },
    { transport: target.transport, connectTimeoutMs: timeoutMs, tlsOptions: { rejectUnauthorized: false } as never },
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("timeout")), timeoutMs);
  });
  try {
    const client = await Promise.race([attempt, timeout]);
    await client.close().catch(() => undefined);
    return `TURN ${url} allocates for these credentials now (the failure was transient or the relay path is blocked)`;
  } catch (err) {
    const response = (err as { response?: { getAttributeValue(name: string): unknown } }).response;
    const code = response?.getAttributeValue("ERROR-CODE") as [number, string] | undefined;
    if (code) return `TURN ${url} answered ${turnErrors[code[0]] ?? `${code[0]} ${code[1]}`}`;
    const message = (err as Error).message;
    if (message === "timeout" || /timeout/i.test(message)) return `TURN ${url} did not answer within ${timeoutMs / 1000} s (unreachable or filtered)`;
    return `TURN ${url} failed: ${message}`;
  } finally {
    clearTimeout(timer);
    attempt.then((c) => c.close().catch(() => undefined)).catch(() => undefined);
  }
}
