import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Whether the `openssl` command is on PATH (Node can make keys but not certificates). */
export function opensslInstalled(): boolean {
  return spawnSync("sh", ["-c", "command -v openssl"], { stdio: "ignore" }).status === 0;
}

export interface TestCertificate {
  /** PEM files: the certificate (its own CA: pass it as NODE_EXTRA_CA_CERTS to trust it) and its key. */
  cert: string;
  key: string;
  remove(): void;
}

/**
 * A self-signed certificate for 127.0.0.1, valid for a day, in a temporary folder: what a
 * server on loopback needs to speak TLS in a test.
 *
 * @example
 * const tls = selfSignedCertificate();
 * startRedis({ tls }); ... tls.remove();
 */
export function selfSignedCertificate(): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), "vchat-tls-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"];
  const made = spawnSync("openssl", [...args, "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (made.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`openssl could not make a certificate: ${made.stderr}`);
  }
  return { cert, key, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
