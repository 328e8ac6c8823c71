import { createHmac } from "node:crypto";

/**
 * TURN REST API credentials as coturn's `use-auth-secret` checks them
 * (draft-uberti-behave-turn-rest-00 §2.2): the user name is `<unix expiry>:<user id>` and the
 * password is base64(HMAC-SHA1(secret, user name)).
 */
export function turnCredentials(
  secret: string,
  userId: string,
  ttlSeconds: number,
  nowMs = Date.now(),
): { username: string; credential: string; expiresAt: number } {
  const expiresAt = Math.floor(nowMs / 1000) + ttlSeconds;
  const username = `${expiresAt}:${userId}`;
  const credential = createHmac("sha1", secret).update(username).digest("base64");
  return { username, credential, expiresAt };
}
