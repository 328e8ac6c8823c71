/**
 * The STUN binding check's ALG detection. An ALG rewrites addresses it recognises in payloads:
 * the plain MAPPED-ADDRESS, never the XORed one. A small server here answers as a client behind
 * such a router would see it.
 */
import dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { addressAttr, attr, decode, encode, message, methods, xorAddressAttr } from "../turn/stun.ts";
import { TurnError } from "../turn/client.ts";
import { checkStun, classifyAllocateError, isPublic } from "./servers.ts";
import { parseIceUrl } from "../turn/urls.ts";

let sock: dgram.Socket | undefined;
afterEach(() => {
  sock?.close();
  sock = undefined;
});

async function fakeStun(rewrite: boolean): Promise<number> {
  sock = dgram.createSocket("udp4");
  sock.on("message", (buf, rinfo) => {
    const req = decode(buf);
    const real = { family: 4 as const, address: rinfo.address, port: rinfo.port };
    const res = message(methods.binding, "success", [
      xorAddressAttr(attr.xorMappedAddress, real, req.transactionId),
      addressAttr(attr.mappedAddress, rewrite ? { family: 4, address: "192.168.1.20", port: 5060 } : real),
    ], req.transactionId);
    sock!.send(encode(res), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock!.bind(0, "127.0.0.1", () => r()));
  return sock.address().port;
}

describe("STUN binding check", () => {
  it("warns about an ALG when MAPPED-ADDRESS and XOR-MAPPED-ADDRESS differ", async () => {
    const port = await fakeStun(true);
    const out = await checkStun({ url: parseIceUrl(`stun:127.0.0.1:${port}`) }, "127.0.0.1", 1000);
    expect(out.status).toBe("warn");
    expect(out.verdict).toMatch(/ALG: MAPPED 192\.168\.1\.20:5060/);
    expect(out.details!.alg).toBe(true);
  });

  it("passes with the same address in both, and no NAT on loopback", async () => {
    const port = await fakeStun(false);
    const out = await checkStun({ url: parseIceUrl(`stun:127.0.0.1:${port}`) }, "127.0.0.1", 1000);
    expect(out.status).toBe("pass");
    expect(out.details).toMatchObject({ alg: false, behindNat: false });
    expect(out.verdict).toMatch(/no NAT.*no ALG/);
  });

  it("fails with no answer in time", async () => {
    sock = dgram.createSocket("udp4");
    await new Promise<void>((r) => sock!.bind(0, "127.0.0.1", () => r()));
    const out = await checkStun({ url: parseIceUrl(`stun:127.0.0.1:${sock.address().port}`) }, "127.0.0.1", 300);
    expect(out.status).toBe("fail");
    expect(out.verdict).toMatch(/no answer/);
  });
});

describe("public addresses", () => {
  it.each([
    ["8.8.8.8", true],
    ["10.1.1.1", false],
    ["172.20.0.1", false],
    ["172.32.0.1", true],
    ["169.254.169.254", false],
    ["100.64.0.1", false],
    ["127.0.0.1", false],
    ["2001:4860::8888", true],
    ["fd00::1", false],
    ["fe80::1", false],
    ["::ffff:10.0.0.1", false],
  ])("%s → %s", (ip, expected) => expect(isPublic(ip)).toBe(expected));
});

describe("TURN allocation errors in words", () => {
  it("classifies an expired TURN REST user name as expired, not as a wrong password", () => {
    const err = new TurnError("allocate", 401, "Unauthorized");
    const now = Date.UTC(2026, 0, 1);
    expect(classifyAllocateError(err, { username: `${now / 1000 - 60}:u`, password: "x" }, now).verdict).toMatch(/expired 2025-12-31T23:59:00/);
    expect(classifyAllocateError(err, { username: `${now / 1000 + 60}:u`, password: "x" }, now).verdict).toMatch(/wrong user name or password/);
  });

  it("names a stale allocation, a quota and an exhausted relay range", () => {
    const c = (code: number) => classifyAllocateError(new TurnError("allocate", code, "x"), undefined);
    expect(c(437)).toMatchObject({ category: "authentication", verdict: expect.stringMatching(/old allocation .* still alive/) });
    expect(c(486)).toMatchObject({ category: "capacity", verdict: expect.stringMatching(/most allocations/) });
    expect(c(508)).toMatchObject({ category: "capacity", verdict: expect.stringMatching(/no relay ports or capacity left/) });
  });
});
