/**
 * Our TURN client (RFC 8656) against a real coturn on loopback: every method the doctor uses,
 * and the error answers it has to name.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { coturnInstalled, startCoturn, type RunningCoturn } from "./coturn-process.ts";
import { turnCredentials } from "./credentials.ts";
import { StunSocket, type TransportKind } from "./transport.ts";
import { TurnAllocation, TurnError, describeError } from "./client.ts";

const hasCoturn = coturnInstalled();
if (!hasCoturn) console.log("SKIPPED TURN client tests: turnserver (coturn) is not installed");

const creds = (t: RunningCoturn, user = "tester") => {
  const c = turnCredentials(t.secret, user, 600);
  return { username: c.username, password: c.credential };
};
const open = (t: RunningCoturn, kind: TransportKind = "udp") => StunSocket.open(kind, { host: "127.0.0.1", port: t.port, timeoutMs: 2000 });
const allocate = async (t: RunningCoturn, kind: TransportKind = "udp", user = "tester") =>
  TurnAllocation.allocate(await open(t, kind), creds(t, user), { timeoutMs: 2000 });

describe.skipIf(!hasCoturn)("TURN client against coturn", () => {
  let turn: RunningCoturn;
  beforeAll(async () => {
    turn = await startCoturn({ mode: "local" });
  });
  afterAll(async () => turn?.stop());

  it.each(["udp", "tcp"] as const)("over %s: Allocate after the 401 challenge, Refresh, free with lifetime 0", async (kind) => {
    const a = await allocate(turn, kind);
    expect(a.authSteps.map((s) => s.code)).toEqual([401, "success"]);
    expect(a.relayed.address).toBe("127.0.0.1");
    expect(a.mapped?.port).toBe(a.socket.local.port);
    expect(await a.refresh(900)).toBe(900);
    expect(await a.refresh(0)).toBe(0);
    await a.close();
  });

  it.each(["udp", "tcp"] as const)("over %s: Send indication arrives as a Data indication with the sender's relayed address", async (kind) => {
    const [a, b] = await Promise.all([allocate(turn, kind), allocate(turn, kind)]);
    try {
      await a.createPermission([b.relayed]);
      await b.createPermission([a.relayed]);
      const got = new Promise<{ peer?: { address: string; port: number }; data: Buffer }>((resolve) => b.onData(resolve));
      a.sendIndication(b.relayed, Buffer.from("hello through the relay"));
      const d = await got;
      expect(d.data.toString()).toBe("hello through the relay");
      expect(d.peer).toMatchObject({ address: a.relayed.address, port: a.relayed.port });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("ChannelBind then odd-sized ChannelData over TCP (padded, RFC 8656 §12.5) reaches the peer's channel", async () => {
    const [a, b] = await Promise.all([allocate(turn, "tcp"), allocate(turn, "tcp")]);
    try {
      await a.channelBind(0x4001, b.relayed);
      await b.channelBind(0x4002, a.relayed);
      const got: Buffer[] = [];
      const done = new Promise<void>((resolve) =>
        b.onData(({ channel, data }) => {
          expect(channel).toBe(0x4002);
          got.push(data);
          if (got.length === 3) resolve();
        }),
      );
      for (const text of ["a", "bcdef", "ghijklm"]) a.sendChannelData(0x4001, Buffer.from(text));
      await done;
      expect(got.map(String)).toEqual(["a", "bcdef", "ghijklm"]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("a second Allocate on the same 5-tuple is 437 Allocation Mismatch, named in words", async () => {
    const a = await allocate(turn);
    try {
      const err = await TurnAllocation.allocate(a.socket, creds(turn), { timeoutMs: 2000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TurnError);
      expect((err as TurnError).code).toBe(437);
      expect(describeError(437)).toMatch(/old allocation .* still alive/);
    } finally {
      await a.close();
    }
  });

  it("a refused peer is 403", async () => {
    const a = await allocate(turn);
    try {
      const err = await a.createPermission([{ family: 4, address: "10.1.2.3", port: 0 }]).catch((e: unknown) => e);
      expect((err as TurnError).code).toBe(403);
    } finally {
      await a.close();
    }
  });
});

describe.skipIf(!hasCoturn)("TURN capacity errors", () => {
  it("486 when one user holds more allocations than user-quota; closing frees the slot (Refresh lifetime 0)", async () => {
    const turn = await startCoturn({ mode: "local", userQuota: 1 });
    try {
      const a = await allocate(turn, "udp", "same-user");
      try {
        const err = await allocate(turn, "udp", "same-user").catch((e: unknown) => e);
        expect((err as TurnError).code).toBe(486);
        expect(describeError(486)).toMatch(/most allocations/);
      } finally {
        await a.close();
      }
      // coturn releases the slot of a freed allocation on its next timer tick, about a second later.
      let b: TurnAllocation | undefined;
      for (let i = 0; i < 30 && !b; i++) {
        b = await allocate(turn, "udp", "same-user").catch(() => undefined);
        if (!b) await new Promise((r) => setTimeout(r, 100));
      }
      expect(b).toBeDefined();
      await b!.close();
    } finally {
      await turn.stop();
    }
  });

  it("508 when the relay port range is exhausted", async () => {
    const min = 20000 + Math.floor(Math.random() * 400) * 20;
    const turn = await startCoturn({ mode: "local", minPort: min, maxPort: min + 1 });
    const held: TurnAllocation[] = [];
    try {
      let err: unknown;
      for (let i = 0; i < 4 && !err; i++) {
        try {
          held.push(await allocate(turn, "udp", `u${i}`));
        } catch (e) {
          err = e;
        }
      }
      expect((err as TurnError).code).toBe(508);
      expect(describeError(508)).toMatch(/no relay ports or capacity left/);
    } finally {
      await Promise.all(held.map((a) => a.close()));
      await turn.stop();
    }
  });
});

describe("error words", () => {
  it("names 401, 437, 441, 486 and 508", () => {
    for (const code of [401, 437, 441, 486, 508]) expect(describeError(code)).not.toMatch(/^error /);
    expect(describeError(441)).toMatch(/Wrong Credentials/);
    expect(describeError(599, "odd")).toBe("error 599 (odd)");
  });
});
