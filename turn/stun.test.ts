import { describe, expect, it } from "vitest";
import {
  attr,
  decode,
  encode,
  longTermKey,
  message,
  methods,
  preparePassword,
  readError,
  readString,
  readXorAddress,
  errorCodeAttr,
  shortTermKey,
  stringAttr,
  verifyFingerprint,
  verifyIntegrity,
  xorAddressAttr,
  decodeType,
  encodeType,
  encodeChannelData,
  decodeChannelData,
  StunParseError,
  type Attribute,
} from "./stun.ts";

// RFC 5769 test vectors, byte for byte.
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const txid = hex("b7e7a701bc34d686fa87dfae");
const shortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";

// §2.1 Sample Request
const sampleRequest = hex(`
  000100582112a442b7e7a701bc34d686fa87dfae
  802200105354554e207465737420636c69656e74
  002400046e0001ff
  80290008932ff9b151263b36
  000600096576746a3a68367659202020
  000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2
  80280004e57a3bcf`);
// §2.2 Sample IPv4 Response
const sampleResponse4 = hex(`
  0101003c2112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000080001a147e112a643
  000800142b91f599fd9e90c38c7489f92af9ba53f06be7d7
  80280004c07d4c96`);
// §2.3 Sample IPv6 Response
const sampleResponse6 = hex(`
  010100482112a442b7e7a701bc34d686fa87dfae
  8022000b7465737420766563746f7220
  002000140002a1470113a9faa5d3f179bc25f4b5bed2b9d9
  00080014a382954e4be67bf11784c97c8292c275bfe3ed41
  80280004c8fb0b4c`);
describe("RFC 5769 §2.1 sample request", () => {
  it("decodes, verifies MESSAGE-INTEGRITY with the short-term password and FINGERPRINT", () => {
    const m = decode(sampleRequest);
    expect(m.method).toBe(methods.binding);
    expect(m.cls).toBe("request");
    expect(m.transactionId.equals(txid)).toBe(true);
    expect(readString(m, attr.software)).toBe("STUN test client");
    expect(readString(m, attr.username)).toBe("evtj:h6vY");
    expect(verifyIntegrity(m, shortTermKey(shortTermPassword))).toBe(true);
    expect(verifyIntegrity(m, shortTermKey("wrong"))).toBe(false);
    expect(verifyFingerprint(m)).toBe(true);
  });

  it("encodes the same bytes (RFC 5769 pads with spaces)", () => {
    const attrs: Attribute[] = [
      stringAttr(attr.software, "STUN test client"),
      { type: attr.priority, value: hex("6e0001ff") },
      { type: attr.iceControlled, value: hex("932ff9b151263b36") },
      stringAttr(attr.username, "evtj:h6vY"),
    ];
    const out = encode(message(methods.binding, "request", attrs, txid), {
      integrityKey: shortTermKey(shortTermPassword),
      fingerprint: true,
      padByte: 0x20,
    });
    expect(out.toString("hex")).toBe(sampleRequest.toString("hex"));
  });

  it("detects a flipped bit", () => {
    const bad = Buffer.from(sampleRequest);
    bad[30] = bad[30]! ^ 1;
    const m = decode(bad);
    expect(verifyIntegrity(m, shortTermKey(shortTermPassword))).toBe(false);
    expect(verifyFingerprint(m)).toBe(false);
  });
});

describe("RFC 5769 §2.2/§2.3 sample responses", () => {
  it("IPv4: XOR-MAPPED-ADDRESS 192.0.2.1:32853, integrity and fingerprint", () => {
    const m = decode(sampleResponse4);
    expect(m.cls).toBe("success");
    expect(readString(m, attr.software)).toBe("test vector");
    expect(readXorAddress(m, attr.xorMappedAddress)).toEqual({ family: 4, address: "192.0.2.1", port: 32853 });
    expect(verifyIntegrity(m, shortTermKey(shortTermPassword))).toBe(true);
    expect(verifyFingerprint(m)).toBe(true);
  });

  it("IPv4: encodes byte for byte", () => {
    const attrs = [
      stringAttr(attr.software, "test vector"),
      xorAddressAttr(attr.xorMappedAddress, { family: 4, address: "192.0.2.1", port: 32853 }, txid),
    ];
    const out = encode(message(methods.binding, "success", attrs, txid), {
      integrityKey: shortTermKey(shortTermPassword),
      fingerprint: true,
      padByte: 0x20,
    });
    expect(out.equals(sampleResponse4)).toBe(true);
  });

  it("IPv6: XOR-MAPPED-ADDRESS 2001:db8:1234:5678:11:2233:4455:6677 port 32853", () => {
    const m = decode(sampleResponse6);
    expect(readXorAddress(m, attr.xorMappedAddress)).toEqual({
      family: 6,
      address: "2001:db8:1234:5678:11:2233:4455:6677",
      port: 32853,
    });
    expect(verifyIntegrity(m, shortTermKey(shortTermPassword))).toBe(true);
    expect(verifyFingerprint(m)).toBe(true);
    const attrs = [
      stringAttr(attr.software, "test vector"),
      xorAddressAttr(attr.xorMappedAddress, { family: 6, address: "2001:db8:1234:5678:11:2233:4455:6677", port: 32853 }, txid),
    ];
    const out = encode(message(methods.binding, "success", attrs, txid), {
      integrityKey: shortTermKey(shortTermPassword),
      fingerprint: true,
      padByte: 0x20,
    });
    expect(out.equals(sampleResponse6)).toBe(true);
  });
});

describe("RFC 5769 §2.4 long-term authentication", () => {
  const username = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9";
  const password = "The\u00adM\u00aatr\u2168";
  const nonce = "f//499k954d6OL34oL9FSTvy64sA";
  const realm = "example.org";
  const bytes = hex(
    "000100602112a44278ad3433c6ad72c029da412e" +
      "00060012e3839ee38388e383aae38383e382afe382b90000" +
      "0015001c662f2f3439396b39353464364f4c33346f4c39465354767936347341" +
      "0014000b6578616d706c652e6f726700" +
      "00080014f67024656dd64a3e02b8e0712e85c9a28ca89666",
  );

  it("prepares the password as the RFC does (SASLprep → TheMatrIX)", () => {
    expect(preparePassword(password)).toBe("TheMatrIX");
  });

  it("verifies MESSAGE-INTEGRITY with MD5(username:realm:password) and encodes the same bytes", () => {
    const m = decode(bytes);
    expect(readString(m, attr.username)).toBe(username);
    expect(readString(m, attr.nonce)).toBe(nonce);
    expect(readString(m, attr.realm)).toBe(realm);
    const key = longTermKey(username, realm, password);
    expect(verifyIntegrity(m, key)).toBe(true);
    expect(verifyIntegrity(m, longTermKey(username, realm, "TheMatrix"))).toBe(false);
    const out = encode(
      message(methods.binding, "request", [stringAttr(attr.username, username), stringAttr(attr.nonce, nonce), stringAttr(attr.realm, realm)], m.transactionId),
      { integrityKey: key },
    );
    expect(out.equals(bytes)).toBe(true);
  });
});

describe("message type, errors, ChannelData and malformed input", () => {
  it("interleaves method and class bits (RFC 8489 §5)", () => {
    expect(encodeType(methods.binding, "request")).toBe(0x0001);
    expect(encodeType(methods.binding, "success")).toBe(0x0101);
    expect(encodeType(methods.binding, "error")).toBe(0x0111);
    expect(encodeType(methods.allocate, "request")).toBe(0x0003);
    expect(encodeType(methods.send, "indication")).toBe(0x0016);
    expect(encodeType(methods.data, "indication")).toBe(0x0017);
    expect(encodeType(methods.channelBind, "error")).toBe(0x0119);
    for (const m of Object.values(methods)) {
      for (const c of ["request", "indication", "success", "error"] as const) expect(decodeType(encodeType(m, c))).toEqual({ method: m, cls: c });
    }
  });

  it("round-trips ERROR-CODE", () => {
    const m = decode(encode(message(methods.allocate, "error", [errorCodeAttr(441, "Wrong Credentials")])));
    expect(readError(m)).toEqual({ code: 441, reason: "Wrong Credentials" });
  });

  it("pads ChannelData only for streams (RFC 8656 §12.5)", () => {
    const d = Buffer.from("abcde");
    expect(encodeChannelData(0x4001, d, false).length).toBe(9);
    expect(encodeChannelData(0x4001, d, true).length).toBe(12);
    expect(decodeChannelData(encodeChannelData(0x4001, d, true))).toEqual({ channel: 0x4001, data: d });
  });

  it("rejects truncated and non-STUN bytes with a stable code", () => {
    expect(() => decode(Buffer.alloc(10))).toThrow(StunParseError);
    expect(() => decode(sampleRequest.subarray(0, 50))).toThrow(/truncated/);
    const noCookie = Buffer.from(sampleRequest);
    noCookie[4] = 0;
    expect(() => decode(noCookie)).toThrow(/magic cookie/);
    try {
      decode(Buffer.alloc(3));
    } catch (e) {
      expect((e as StunParseError).code).toBe("STUN_MALFORMED");
    }
  });
});
