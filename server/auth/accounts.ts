import { VchatError, type AuthResponse, type GuestBody, type LoginBody, type RegisterBody, type User } from "../../protocol/index.ts";
import type { ServerConfig } from "../config.ts";
import { newId } from "../ids.ts";
import { consume, type RateLimits } from "../rate-limits.ts";
import type { Store, UserRecord } from "../store/store.ts";
import { decoyHash, hashPassword, verifyPassword } from "./passwords.ts";
import type { AccountStanding } from "./standing.ts";
import { signToken } from "./tokens.ts";

export interface AccountDeps {
  config: ServerConfig;
  store: Store;
  limits: RateLimits;
  standing: AccountStanding;
}

/** Sign-up, login and profile use cases. `client` is the caller's address, for throttling. */
export function createAccounts({ config, store, limits, standing }: AccountDeps) {
  const issue = (user: UserRecord): AuthResponse => ({
    token: signToken({ sub: user.id, nickname: user.nickname, kind: user.kind }, config.jwtSecret, config.tokenTtlSeconds),
    user: publicUser(user),
  });

  return {
    async guest(body: GuestBody, client: string): Promise<AuthResponse> {
      await consume(limits.signup, client);
      const id = newId();
      const user: UserRecord = {
        id,
        kind: "guest",
        nickname: body.nickname ?? `guest-${id.slice(0, 5)}`,
        createdAt: new Date().toISOString(),
      };
      await store.createUser(user);
      return issue(user);
    },

    async register(body: RegisterBody, client: string): Promise<AuthResponse> {
      await consume(limits.signup, client);
      if (await store.getUserByEmail(body.email)) throw new VchatError("EMAIL_TAKEN", "this email is registered already");
      const user: UserRecord = {
        id: newId(),
        kind: "registered",
        nickname: body.nickname,
        email: body.email,
        passwordHash: await hashPassword(body.password),
        createdAt: new Date().toISOString(),
      };
      await store.createUser(user);
      return issue(user);
    },

    /**
     * A point is taken from both login limits before the password is checked and given back on
     * success, so concurrent attempts can never check more passwords than the limits allow (a
     * check-then-count would let every attempt in flight pass the check).
     */
    async login(body: LoginBody, client: string): Promise<AuthResponse> {
      const key = `${body.email}|${client}`;
      await consume(limits.login, key, "too many failed logins");
      try {
        await consume(limits.loginByAddress, client, "too many failed logins from this address");
      } catch (err) {
        await limits.login.reward(key, 1);
        throw err;
      }
      const user = await store.getUserByEmail(body.email);
      // Verify against a decoy when there is no such user, so timing does not reveal registered emails.
      const ok = await verifyPassword(body.password, user?.passwordHash ?? (await decoyHash));
      if (!user || !ok) throw new VchatError("INVALID_CREDENTIALS", "email or password is wrong");
      // The right password clears this email's failures from this address and gives back the address' point.
      await Promise.all([limits.login.delete(key), limits.loginByAddress.reward(client, 1)]);
      await standing.check(user.id);
      return issue(user);
    },

    async me(userId: string): Promise<User> {
      const user = await store.getUser(userId);
      if (!user) throw new VchatError("UNAUTHENTICATED", "the account no longer exists");
      return publicUser(user);
    },
  };
}

export type Accounts = ReturnType<typeof createAccounts>;

function publicUser(user: UserRecord): User {
  const { passwordHash: _, ...rest } = user;
  return rest;
}
