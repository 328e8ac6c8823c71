import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisInstalled } from "../server/cluster/redis-process.ts";
import { api, next, pair, record, request, sleep, user, type TestUser } from "./support/client.ts";
import { redisKinds } from "./support/cluster.ts";
import { serveProcess, type NodeProcess } from "./support/serve.ts";

const available = redisInstalled();
if (!available) console.warn("SKIPPED: redis-server is not installed, so the node-crash test did not run");

describe.skipIf(!available).each(redisKinds)("a node killed with SIGKILL, on $name", ({ start }) => {
  let redis: { url: string; stop(): Promise<void> };
  let dir: string;
  let nodes: NodeProcess[] = [];
  const users: TestUser[] = [];

  beforeAll(async () => {
    redis = await start();
    dir = mkdtempSync(join(tmpdir(), "vchat-kill-"));
    const secret = randomBytes(32).toString("base64url");
    // One SQLite file for the three processes (WAL): they share users and call records.
    nodes = await Promise.all([1, 2, 3].map(() => serveProcess(["--redis", redis.url, "--db", join(dir, "vchat.db")], { VCHAT_JWT_SECRET: secret })));
  }, 90_000);
  afterAll(async () => {
    users.forEach((u) => u.socket.disconnect());
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it("ends its users' calls for their peers on the other nodes within 5 s, and the others go on", async () => {
    const [n1, n2, n3] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const newUser = async (node: NodeProcess, name: string) => {
      const u = await user(node.url, name);
      users.push(u);
      return u;
    };
    // Four calls between node 3 and the others, one call between nodes 1 and 2, one user waiting on node 3.
    const peers: { peer: TestUser; sessionId: string }[] = [];
    for (let i = 0; i < 4; i++) {
      const victim = await newUser(n3, `victim${i}`);
      const peer = await newUser(i % 2 ? n1 : n2, `peer${i}`);
      const [, fp] = await pair(victim, peer);
      peers.push({ peer, sessionId: fp.sessionId });
    }
    const [o1, o2] = [await newUser(n1, "o1"), await newUser(n2, "o2")];
    const [fo1] = await pair(o1, o2);
    const endedOthers = [record(o1.socket, "call:ended"), record(o2.socket, "call:ended")];
    const waiter = await newUser(n3, "waiter");
    expect(await request(waiter.socket, "lobby:join", {})).toMatchObject({ ok: true });

    const killedAt = Date.now();
    n3.proc.kill("SIGKILL");
    const latencies = await Promise.all(
      peers.map(async ({ peer, sessionId }) => {
        expect(await next(peer.socket, "call:ended", 5000)).toEqual({ sessionId, reason: "disconnected" });
        return Date.now() - killedAt;
      }),
    );
    console.log(`node killed with SIGKILL: its 4 calls ended for the peers on other nodes after ${latencies.join(", ")} ms`);
    expect(Math.max(...latencies)).toBeLessThan(5000);

    // The other nodes' call goes on.
    const got = next(o2.socket, "signal");
    expect(await request(o1.socket, "signal", { sessionId: fo1.sessionId, candidate: null })).toEqual({ ok: true });
    expect(await got).toEqual({ sessionId: fo1.sessionId, candidate: null });
    expect(endedOthers.map((e) => e.length)).toEqual([0, 0]);

    // The dead node's waiter is out of the queue: two new users are matched with each other, not with it.
    let queue = "";
    for (let i = 0; i < 40 && !/^vchat_queue_length 0$/m.test(queue); i++) {
      queue = await sleep(i ? 100 : 0).then(async () => (await api<string>(n1.url, "/metrics")).body);
    }
    expect(queue).toMatch(/^vchat_queue_length 0$/m);
    const [a, b] = [await newUser(n1, "after-a"), await newUser(n2, "after-b")];
    const [fa, fb] = await pair(a, b);
    expect(fa.peer.id).toBe(b.id);
    expect(fb.peer.id).toBe(a.id);
  }, 60_000);
});
