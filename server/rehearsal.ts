import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, sep } from "node:path";
import { diesWithParent } from "../lib/processes.ts";
import { freePort } from "../lib/ports.ts";
import { cacheControlOf, contentTypeOf, fileExtension, nodePathPatterns, patternRegExp } from "../protocol/routes.ts";
import { startDevServer, type DevServer } from "./dev.ts";

/**
 * The production shape on one machine: haproxy in front, routing paths as CloudFront does
 * (`protocol/routes.ts`), round robin over the nodes without stickiness (the web client speaks
 * WebSocket only), and the web client served as the S3 bucket behind CloudFront serves it.
 */
export interface HaproxyOptions {
  /** The public address, as CloudFront's. */
  bind: { host: string; port: number };
  /** `host:port` of each `vchat serve` node. */
  nodes: string[];
  /** `host:port` of the bucket (`startBucket`). */
  bucket: string;
}

/** haproxy's configuration for the rehearsal. Each response names its backend server in `x-served-by`, so round robin can be seen. */
export function haproxyConfig({ bind, nodes, bucket }: HaproxyOptions): string {
  const acls = nodePathPatterns.map((p) => `  acl to_node path_reg ${patternRegExp(p).source}`).join("\n");
  const servers = nodes.map((n, i) => `  server node${i + 1} ${n} check inter 1s`).join("\n");
  return `global
  maxconn 1000
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  # A WebSocket is a tunnel once upgraded: it lives as long as the call.
  timeout tunnel 1h
frontend public
  bind ${bind.host}:${bind.port}
  option forwardfor
${acls}
  use_backend nodes if to_node
  default_backend bucket
  http-response set-header x-served-by %s
backend nodes
  balance roundrobin
  option httpchk GET /healthz
${servers}
backend bucket
  server bucket ${bucket}
`;
}

export interface Bucket {
  /** `host:port`. */
  address: string;
  stop(): Promise<void>;
}

/**
 * The web client's build served as the bucket behind CloudFront serves it: objects by key with
 * their content type and the Cache-Control the upload gives them (`cacheControlOf`), GET and HEAD
 * only; a client route (a path without a file extension) gets index.html, as the distribution's
 * viewer-request function rewrites it, and a missing file 403, as S3 answers CloudFront.
 */
export async function startBucket(dir: string, host = "127.0.0.1"): Promise<Bucket> {
  const root = resolve(dir);
  if (!existsSync(join(root, "index.html"))) throw new Error(`${dir} has no index.html: build the web client first (npm run build:web)`);
  const server = createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(403, { "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    let path = "/";
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://bucket").pathname);
    } catch {
      // A malformed escape names no file.
    }
    const key = fileExtension.test(path) ? path.slice(1) : "index.html";
    const file = resolve(root, key);
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(403, { "content-type": "application/xml" }).end("<Error><Code>AccessDenied</Code></Error>\n");
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, {
      "content-type": contentTypeOf(key),
      "content-length": body.length,
      "cache-control": cacheControlOf(key),
    });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  await new Promise<void>((ok) => server.listen(0, host, ok));
  const { port } = server.address() as AddressInfo;
  return {
    address: `${host}:${port}`,
    stop: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

export const haproxyBin = "/usr/sbin/haproxy";

export interface RehearsalOptions {
  /** The web client's build, served by the bucket. */
  webDir: string;
  /** The public port (haproxy's). 0 picks a free one. @default 0 */
  port?: number;
  /** SQLite file shared by the nodes, or ":memory:". @default ":memory:" */
  db?: string;
  /** Where the local secrets and coturn's configuration are kept. @default the database's folder */
  stateDir?: string;
  quiet?: boolean;
}

export interface Rehearsal {
  /** The public URL: what CloudFront's would be. */
  url: string;
  cluster: DevServer;
  bucket: Bucket;
  stop(): Promise<void>;
}

/**
 * `vchat dev --prod-shape`: two nodes on a local redis-server (`vchat dev --nodes 2`, trusting
 * one proxy hop as behind the ALB), coturn from the production generator with only local mode's
 * loopback allowance, the bucket, and haproxy in front on 127.0.0.1, which dies with this process.
 */
export async function startRehearsal(opts: RehearsalOptions): Promise<Rehearsal> {
  if (!existsSync(haproxyBin)) throw new Error(`haproxy is not installed (${haproxyBin}; Debian package haproxy)`);
  const bucket = await startBucket(opts.webDir);
  const dir = mkdtempSync(join(tmpdir(), "vchat-haproxy-"));
  let cluster: DevServer | undefined;
  let proxy: ChildProcess | undefined;
  const stop = async () => {
    if (proxy && proxy.exitCode === null && proxy.signalCode === null) {
      const exited = new Promise((ok) => proxy!.once("exit", ok));
      proxy.kill("SIGTERM");
      await exited;
    }
    await cluster?.stop();
    await bucket.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    cluster = await startDevServer({
      nodes: 2,
      port: 0,
      db: opts.db ?? ":memory:",
      stateDir: opts.stateDir,
      turn: true,
      // The nodes serve no web client: only the bucket does, as in the cloud.
      webDir: null,
      quiet: opts.quiet,
      config: { trustProxyHops: 1 },
    });
    const port = opts.port || (await freePort());
    const conf = join(dir, "haproxy.cfg");
    writeFileSync(conf, haproxyConfig({ bind: { host: "127.0.0.1", port }, nodes: cluster.urls.map((u) => new URL(u).host), bucket: bucket.address }));
    proxy = spawn(...diesWithParent(haproxyBin, ["-db", "-f", conf]), { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proxy.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-10_000)));
    // Ready once haproxy's health checks have seen both nodes up.
    const seen = new Set<string>();
    for (const deadline = Date.now() + 10_000; seen.size < 2;) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
      const by = res?.headers.get("x-served-by");
      if (res?.ok && by) seen.add(by);
      if (proxy.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not reach both nodes: ${log.trim() || "no output"}`);
      if (seen.size < 2) await new Promise((r) => setTimeout(r, 100));
    }
    // localhost: browsers give camera and microphone only to a secure context.
    return { url: `http://localhost:${port}`, cluster, bucket, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
