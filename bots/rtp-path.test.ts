/**
 * A relayed bot's socket, connected to its TURN server once ICE is done (`connectToServer`): real UDP
 * sockets on loopback.
 */
import { createSocket, type Socket } from "node:dgram";
import { afterEach, describe, expect, it, vi } from "vitest";
import { connectToServer } from "./rtp-path.ts";

const open: Socket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function bound(): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  open.push(s);
  return s;
}
const port = (s: Socket) => s.address().port;
const next = (s: Socket) => new Promise<string>((resolve) => s.once("message", (data: Buffer) => resolve(data.toString())));
const connected = (s: Socket) => vi.waitFor(() => s.remoteAddress());

describe("a relayed bot's socket connected to its TURN server", () => {
  it("sends there without an address, and werift's own sends to the same address go on", async () => {
    const [a, b] = [await bound(), await bound()];
    const send = connectToServer(a, ["127.0.0.1", port(b)]);
    await connected(a);
    let got = next(b);
    send(Buffer.from("media"));
    expect(await got).toBe("media");
    got = next(b);
    a.send(Buffer.from("consent check"), port(b), "127.0.0.1"); // werift's way: with the address
    expect(await got).toBe("consent check");
    expect(a.remoteAddress().port).toBe(port(b));
  });

  it("disconnects first when werift sends anywhere else (never seen on a TURN client's socket), and still delivers", async () => {
    const [a, b, c] = [await bound(), await bound(), await bound()];
    const send = connectToServer(a, ["127.0.0.1", port(b)]);
    await connected(a);
    const got = next(c);
    a.send(Buffer.from("elsewhere"), port(c), "127.0.0.1");
    expect(await got).toBe("elsewhere");
    expect(() => a.remoteAddress()).toThrow(/not connected/i);
    const media = next(b);
    send(Buffer.from("media"));
    expect(await media).toBe("media");
  });

  it("takes the server gone (ICMP port unreachable, ECONNREFUSED) as no error: the thread lives on", async () => {
    const [a, b, c] = [await bound(), await bound(), await bound()];
    const send = connectToServer(a, ["127.0.0.1", port(b)]);
    await connected(a);
    // Watched without a listener of the test's own, which would hide a missing one.
    const emit = vi.spyOn(a, "emit");
    const errors = () =>
      (emit.mock.calls as unknown[][])
        .filter(([event]) => event === "error")
        .map(([, e]) => `${(e as NodeJS.ErrnoException).code} ${(e as NodeJS.ErrnoException).syscall}`);
    open.splice(open.indexOf(b), 1);
    b.close();
    // The kernel reports the ICMP error on the socket's next receive: Node emits it as `error`,
    // which without connectToServer's listener is an uncaught exception (the test run would fail).
    // Sent again while none came: the kernel may hold ICMP back under its global rate limit.
    await vi.waitFor(
      () => {
        if (!errors().length) send(Buffer.from("to no one"));
        expect(errors()[0]).toBe("ECONNREFUSED recvmsg");
      },
      { timeout: 5000, interval: 50 },
    );
    const got = next(c);
    a.send(Buffer.from("still here"), port(c), "127.0.0.1");
    expect(await got).toBe("still here");
  });
});
