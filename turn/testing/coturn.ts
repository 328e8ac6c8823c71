/**
 * Test support: a coturn started from a hand-written configuration, for the insecure setups
 * that the generator (rightly) cannot produce, and a self-signed certificate made with openssl.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../lib/ports.ts";
import { writeSelfSignedCert } from "../../lib/tls.ts";
import { StunSocket } from "../transport.ts";
import { message, methods } from "../stun.ts";

export function opensslInstalled(): boolean {
  return spawnSync("sh", ["-c", "command -v openssl"], { stdio: "ignore" }).status === 0;
}

export function natdiscoveryInstalled(): boolean {
  return spawnSync("sh", ["-c", "command -v turnutils_natdiscovery"], { stdio: "ignore" }).status === 0;
}

/** A self-signed certificate, by default for `localhost`/127.0.0.1, valid for `days`. */
export function selfSignedCert(
  days = 30,
  name: { cn: string; names: readonly string[] } = { cn: "localhost", names: ["localhost", "127.0.0.1"] },
): { certFile: string; keyFile: string; dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "vchat-cert-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const failed = writeSelfSignedCert({ certFile, keyFile, cn: name.cn, names: name.names, days });
  if (failed !== null) throw new Error(`openssl failed: ${failed}`);
  return { certFile, keyFile, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Starts coturn on 127.0.0.1 with exactly the given extra lines (plus what loopback tests need). */
export async function startRawCoturn(secret: string, extra: string[]): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "vchat-rawturn-"));
  const minPort = 40000 + Math.floor(Math.random() * 20) * 200;
  const config = [
    "listening-ip=127.0.0.1",
    "relay-ip=127.0.0.1",
    `listening-port=${port}`,
    `min-port=${minPort}`,
    `max-port=${minPort + 199}`,
    "no-tls",
    "no-dtls",
    "fingerprint",
    "use-auth-secret",
    `static-auth-secret=${secret}`,
    "realm=vchat.local",
    "no-cli",
    `userdb=${join(dir, "turndb")}`,
    `pidfile=${join(dir, "pid")}`,
    "log-file=stdout",
    ...extra,
  ].join("\n");
  writeFileSync(join(dir, "turnserver.conf"), config + "\n");
  const child = spawn("turnserver", ["-c", join(dir, "turnserver.conf")], { stdio: "ignore" });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    const sock = await StunSocket.open("udp", { host: "127.0.0.1", port, timeoutMs: 200 });
    try {
      await sock.request(message(methods.binding, "request"), { timeoutMs: 200 });
      return { port, stop };
    } catch {
      // not up yet
    } finally {
      sock.close();
    }
  }
  await stop();
  throw new Error("raw coturn did not start");
}
