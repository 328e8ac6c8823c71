import { spawnSync } from "node:child_process";
import { isIP } from "node:net";

/**
 * Writes a self-signed EC P-256 certificate and its key (PEM) for `names`, DNS names or IP
 * addresses, with openssl: Node can read X.509 certificates but cannot issue one. Returns null on
 * success, else why openssl failed (absent, or its last line of error).
 */
export function writeSelfSignedCert(o: { certFile: string; keyFile: string; cn: string; names: readonly string[]; days: number }): string | null {
  const san = o.names.map((n) => `${isIP(n) ? "IP" : "DNS"}:${n}`).join(",");
  const r = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      o.keyFile,
      "-out",
      o.certFile,
      "-days",
      String(o.days),
      "-subj",
      `/CN=${o.cn}`,
      "-addext",
      `subjectAltName=${san}`,
    ],
    { encoding: "utf8" },
  );
  if (r.error) return r.error.message;
  return r.status === 0 ? null : (r.stderr.trim().split("\n").pop() ?? `openssl exited ${r.status}`);
}
