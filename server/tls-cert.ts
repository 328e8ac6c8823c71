/**
 * `vchat dev --https`: a self-signed certificate for the names a browser will use (localhost,
 * loopback, the LAN address), so a phone on the LAN gets a secure context and its camera. Node
 * cannot issue an X.509 certificate by itself, so openssl makes it; Node's `X509Certificate`
 * decides whether the one kept in the state folder still fits.
 */
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { writeSelfSignedCert } from "../lib/tls.ts";
import { StateError } from "./secrets.ts";

export interface DevCertificate {
  cert: string;
  key: string;
  certFile: string;
  /** Whether it was made at this start (else the one kept from an earlier start). */
  created: boolean;
}

const validDays = 365;

/** Reuses `folder/tls/` when its certificate covers every name for another day, else makes a new one there. */
export function devCertificate(folder: string, names: readonly string[]): DevCertificate {
  const dir = join(folder, "tls");
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, "utf8");
    const x509 = new X509Certificate(cert);
    const fresh = Date.parse(x509.validTo) - Date.now() > 86_400_000;
    if (fresh && names.every((n) => (isIP(n) ? x509.checkIP(n) : x509.checkHost(n)) !== undefined)) {
      return { cert, key: readFileSync(keyFile, "utf8"), certFile, created: false };
    }
  }
  if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
  const failed = writeSelfSignedCert({ certFile, keyFile, cn: "vchat dev", names, days: validDays });
  if (failed !== null) throw new StateError(`--https needs openssl to make a self-signed certificate: ${failed}`);
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile, created: true };
}
