import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { attr, encode, encodeChannelData, message, methods, readString, stringAttr } from "./stun.ts";
import { StunSocket, TransportError } from "./transport.ts";

// A tiny TCP peer that answers a request with bytes split at awkward places, to test framing.
let server: net.Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

async function listen(onData: (sock: net.Socket, data: Buffer) => void): Promise<number> {
  server = net.createServer((s) => s.on("data", (d) => onData(s, d)));
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  return (server.address() as net.AddressInfo).port;
}

describe("stream framing (RFC 8656 §12.5)", () => {
  it("reassembles STUN and padded ChannelData split across TCP segments", async () => {
    const port = await listen((s, d) => {
      const req = d;
      const res = encode({ ...message(methods.binding, "success", [stringAttr(attr.software, "split")]), transactionId: req.subarray(8, 20) });
      const chan = encodeChannelData(0x4000, Buffer.from("xyz"), true);
      const all = Buffer.concat([chan, res, chan]);
      // one byte, then the rest in two pieces
      s.write(all.subarray(0, 1));
      setTimeout(() => s.write(all.subarray(1, 13)), 10);
      setTimeout(() => s.write(all.subarray(13)), 20);
    });
    const sock = await StunSocket.open("tcp", { host: "127.0.0.1", port, timeoutMs: 1000 });
    const channels: string[] = [];
    sock.onIncoming((inc) => inc.channel && channels.push(inc.channel.data.toString()));
    const { res } = await sock.request(message(methods.binding, "request"), { timeoutMs: 1000 });
    expect(readString(res, attr.software)).toBe("split");
    await new Promise((r) => setTimeout(r, 50));
    expect(channels).toEqual(["xyz", "xyz"]);
    sock.close();
  });

  it("a refused connection and a silent server give stable codes", async () => {
    const port = await listen(() => {});
    const silent = await StunSocket.open("tcp", { host: "127.0.0.1", port, timeoutMs: 1000 });
    const err = await silent.request(message(methods.binding, "request"), { timeoutMs: 200 }).catch((e: unknown) => e);
    expect((err as TransportError).code).toBe("TIMEOUT");
    silent.close();
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const refused = await StunSocket.open("tcp", { host: "127.0.0.1", port, timeoutMs: 1000 }).catch((e: unknown) => e);
    expect((refused as TransportError).code).toBe("REFUSED");
  });
});
