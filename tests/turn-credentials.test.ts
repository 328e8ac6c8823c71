import { afterAll, beforeAll, expect, it } from "vitest";
import { describeIf } from "./support/skip.ts";
import { StunSocket } from "../turn/transport.ts";
import { TurnAllocation, TurnError } from "../turn/client.ts";
import type { AuthResponse, IceResponse } from "../protocol/index.ts";
import type { DevServer } from "../server/dev.ts";
import { coturnInstalled } from "../turn/coturn-process.ts";
import { turnCredentials } from "../turn/credentials.ts";
import { api } from "./support/client.ts";
import { testDev } from "./support/dev.ts";

const hasCoturn = coturnInstalled();

/**
 * `vchat dev` starts a real coturn with the generated config; the credentials `/api/ice` issues
 * must open an allocation, and expired or forged ones must not.
 */
describeIf(hasCoturn, "turnserver (coturn) is not installed")("TURN credentials against a real coturn", () => {
  let dev: DevServer;
  let ice: IceResponse;
  let userId: string;
  beforeAll(async () => {
    dev = await testDev({ turn: true });
    const g = await api<AuthResponse>(dev.url, "/api/auth/guest", { body: {} });
    userId = g.body.user.id;
    ice = (await api<IceResponse>(dev.url, "/api/ice", { token: g.body.token })).body;
  });
  afterAll(() => dev?.stop());

  async function allocate(kind: "udp" | "tcp", username: string, password: string) {
    const socket = await StunSocket.open(kind, { host: "127.0.0.1", port: dev.turn!.port, timeoutMs: 2000 });
    try {
      const allocation = await TurnAllocation.allocate(socket, { username, password }, { timeoutMs: 2000 });
      await allocation.close();
      return allocation;
    } finally {
      socket.close();
    }
  }

  it.each(["udp", "tcp"] as const)("fresh credentials from /api/ice open an allocation over %s", async (kind) => {
    const turn = ice.iceServers.find((s) => [s.urls].flat().some((u) => u.endsWith(`transport=${kind}`)))!;
    expect(turn).toBeDefined();
    const allocation = await allocate(kind, turn.username!, turn.credential!);
    expect(allocation.relayed.address).toBe("127.0.0.1");
    expect(allocation.relayed.port).toBeGreaterThan(0);
    expect(allocation.authSteps.map((s) => s.code)).toEqual([401, "success"]);
  });

  it("asking /api/ice again gives the same user name, so coturn's per-user quota (12 allocations) holds", async () => {
    const g = await api<AuthResponse>(dev.url, "/api/auth/guest", { body: {} });
    const fetchTurn = async () => (await api<IceResponse>(dev.url, "/api/ice", { token: g.body.token })).body.iceServers.find((s) => s.username)!;
    const first = await fetchTurn();
    const sockets: StunSocket[] = [];
    const allocations: TurnAllocation[] = [];
    try {
      // The quota counts allocations per user name: fill it with the first answer.
      for (let i = 0; i < 12; i++) {
        const socket = await StunSocket.open("udp", { host: "127.0.0.1", port: dev.turn!.port, timeoutMs: 2000 });
        sockets.push(socket);
        allocations.push(await TurnAllocation.allocate(socket, { username: first.username!, password: first.credential! }, { timeoutMs: 2000 }));
      }
      // Seconds later (user names carry an expiry in seconds), a new answer must not open more.
      await new Promise((r) => setTimeout(r, 1100));
      const again = await fetchTurn();
      expect(again.username).toBe(first.username);
      expect(again.credential).toBe(first.credential);
      await expect(allocate("udp", again.username!, again.credential!)).rejects.toSatisfy((e: unknown) => e instanceof TurnError && e.code === 486);
    } finally {
      await Promise.allSettled(allocations.map((a) => a.close()));
      sockets.forEach((s) => s.close());
    }
  });

  it("expired credentials are refused with 401", async () => {
    const old = turnCredentials(dev.turn!.secret, userId, 60, Date.now() - 3600_000);
    await expect(allocate("udp", old.username, old.credential)).rejects.toSatisfy((e: unknown) => e instanceof TurnError && e.code === 401);
  });

  it("forged credentials (another secret, or a changed user name) are refused with 401", async () => {
    const forged = turnCredentials("not-the-server-secret-at-all", userId, 600);
    await expect(allocate("udp", forged.username, forged.credential)).rejects.toSatisfy((e: unknown) => e instanceof TurnError && e.code === 401);
    const turn = ice.iceServers.find((s) => s.username)!;
    const [expiry] = turn.username!.split(":");
    await expect(allocate("udp", `${Number(expiry) + 86400}:${userId}`, turn.credential!)).rejects.toSatisfy(
      (e: unknown) => e instanceof TurnError && e.code === 401,
    );
  });
});
