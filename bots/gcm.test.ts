/**
 * The short-packet AES-128-GCM against the GCM specification's test vectors and against Node's
 * own cipher (OpenSSL) for every length it handles: same ciphertext, same tag, and a changed
 * byte anywhere refused.
 */
import { createCipheriv, createSecretKey, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { GcmKey, Keystreams, open, seal, shortGcmMaxBytes } from "./gcm.ts";

/** Seals `plain` after `aad` with one IV: [aad | ciphertext | tag]. */
function sealOne(keyBytes: Buffer, iv: Buffer, aad: Buffer, plain: Buffer): Buffer {
  const key = new GcmKey(createSecretKey(keyBytes));
  const ks = new Keystreams(key, (_, into, at) => iv.copy(into, at));
  const out = Buffer.alloc(aad.length + plain.length + 16);
  aad.copy(out);
  seal(key, ks.one(0, plain.length), ks.at, plain, out, 0, aad.length);
  return out;
}

function nodeGcm(keyBytes: Buffer, iv: Buffer, aad: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv("aes-128-gcm", keyBytes, iv);
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([aad, ct, c.getAuthTag()]);
}

const hex = (s: string) => Buffer.from(s, "hex");

describe("short-packet AES-128-GCM", () => {
  it("gives the GCM specification's test vectors (McGrew and Viega, test cases 2 and 4)", () => {
    const zero = Buffer.alloc(16);
    expect(sealOne(zero, Buffer.alloc(12), Buffer.alloc(0), zero).toString("hex")).toBe(
      "0388dace60b6a392f328c2b971b2fe78" + "ab6e47d42cec13bdf53a67b21257bddf",
    );
    const key = hex("feffe9928665731c6d6a8f9467308308");
    const iv = hex("cafebabefacedbaddecaf888");
    const aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const plain = hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    const sealed = sealOne(key, iv, aad, plain);
    expect(sealed.subarray(aad.length).toString("hex")).toBe(
      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091" +
        "5bc94fbc3221a5db94fae95ae7121a47",
    );
  });

  it("seals as Node's cipher does for every length up to the limit, and opens it", () => {
    for (let length = 0; length <= shortGcmMaxBytes; length++) {
      const [key, iv, plain] = [randomBytes(16), randomBytes(12), randomBytes(length)];
      const aad = randomBytes(12 + 4 * (length % 4));
      const sealed = sealOne(key, iv, aad, plain);
      expect(sealed.equals(nodeGcm(key, iv, aad, plain)), `length ${length}`).toBe(true);
      const gk = new GcmKey(createSecretKey(key));
      const ks = new Keystreams(gk, (_, into, at) => iv.copy(into, at));
      const span = ks.one(0, length);
      expect(open(gk, span, ks.at, sealed, aad.length, sealed.length - 16)?.equals(plain), `length ${length}`).toBe(true);
    }
  });

  it("refuses a packet with any byte changed (header, payload or tag), and leaves it as it was", () => {
    const [keyBytes, iv] = [randomBytes(16), randomBytes(12)];
    const sealed = sealOne(keyBytes, iv, randomBytes(12), randomBytes(80));
    const key = new GcmKey(createSecretKey(keyBytes));
    const ks = new Keystreams(key, (_, into, at) => iv.copy(into, at));
    for (let at = 0; at < sealed.length; at++) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 1 << (at % 8);
      const before = Buffer.from(bad);
      expect(open(key, ks.one(0, 80), ks.at, bad, 12, bad.length - 16), `byte ${at}`).toBeNull();
      expect(bad.equals(before)).toBe(true);
    }
  });

  it("gives each packet of a stream its own keystream, in order, late, or longer than the run's", () => {
    const keyBytes = randomBytes(16);
    const ivOf = (index: number) => {
      const iv = Buffer.alloc(12, 0x5a);
      iv.writeUIntBE(index, 6, 6);
      return iv;
    };
    const key = new GcmKey(createSecretKey(keyBytes));
    const ks = new Keystreams(key, (index, into, at) => ivOf(index).copy(into, at));
    // In order through two runs, then a late one, a longer one, and a jump ahead.
    const order = [...Array(70).keys()]
      .map((i) => [1000 + i, 80])
      .concat([
        [1003, 80],
        [1071, 200],
        [1072, 80],
        [5000, 0],
        [4999, 10],
      ]);
    for (const [index, length] of order) {
      const aad = randomBytes(12);
      const plain = randomBytes(length!);
      const out = Buffer.alloc(12 + length! + 16);
      aad.copy(out);
      const span = ks.get(index!, length!);
      seal(key, span, ks.at, plain, out, 0, 12);
      expect(out.equals(nodeGcm(keyBytes, ivOf(index!), aad, plain)), `index ${index}`).toBe(true);
    }
  });
});
