/**
 * A NAT lab of Linux network namespaces: a "public" segment (a bridge in a namespace of its own,
 * holding the service and coturn on documentation-range addresses) and client networks, each a
 * host behind a NAT router namespace of a chosen behaviour (RFC 4787 terms), or a host on the
 * public segment itself. Nothing is created in the namespace the tests run in: every interface
 * is made inside a lab namespace, so the lab's traffic cannot leave it.
 *
 *   ns <prefix>-pub: bridge br0  203.0.113.1/24 (+ the servers' addresses), 198.51.100.1/24
 *        |  veth v<i> ── wan 198.51.100.<10+i>  ns <prefix>-r<i> (nftables NAT)
 *        |                lan 10.0.<i>.1 ── eth0 10.0.<i>.2  ns <prefix>-h<i> (the client host)
 *        |  veth v<j> ── eth0 198.51.100.<100+j>  ns <prefix>-h<j> (kind "none": no NAT)
 *
 * Needs root, `ip` (iproute2) and `nft` (nftables); `natlabMissing()` says what is absent.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { alive } from "./process.ts";

/**
 * Client networks. Mapping and filtering as RFC 4787 §4.1 / §5 define them:
 * - `eim-eif`: endpoint-independent mapping and filtering ("full cone")
 * - `eim-adf`: endpoint-independent mapping, address-dependent filtering ("restricted cone")
 * - `eim-apdf`: endpoint-independent mapping, address-and-port-dependent filtering ("port-restricted cone")
 * - `symmetric`: address-and-port-dependent mapping and filtering
 * - `udp-blocked`: a NAT that drops all outbound UDP and lets only TCP to port 443 out
 * - `none`: a host with a public address, no NAT
 */
export const natKinds = ["eim-eif", "eim-adf", "eim-apdf", "symmetric", "udp-blocked", "none"] as const;
export type NatKind = (typeof natKinds)[number];

export interface ClientNet {
  kind: NatKind;
  /** The namespace of the client host: run clients here. */
  ns: string;
  /** The host's own address (private behind a NAT). */
  address: string;
  /** The address the public segment sees: the NAT's outside address, or the host's own. */
  publicAddress: string;
}

export interface NatLab {
  prefix: string;
  /** The public namespace, where servers run. */
  pub: string;
  /** Addresses given to the public namespace for servers. */
  serverAddresses: string[];
  nets: ClientNet[];
  /** Spawns `cmd args` inside `ns`; the lab kills it at teardown if it is still running. */
  spawn(ns: string, cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Runs `cmd args` inside `ns` to completion: exit code, stdout and stderr. */
  run(
    ns: string,
    cmd: string,
    args: string[],
    opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv },
  ): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Kills everything in the lab's namespaces and deletes them. Safe to call twice. */
  destroy(): Promise<void>;
}

const namePrefix = "vcl";

/** Why the lab cannot run here, or null when it can. */
export function natlabMissing(): string | null {
  if (process.platform !== "linux") return "the NAT lab needs Linux network namespaces";
  if (process.getuid?.() !== 0) return "the NAT lab needs root (network namespaces, veth pairs, nftables)";
  for (const tool of ["ip", "nft"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status !== 0)
      return `the NAT lab needs \`${tool}\` (Debian package ${tool === "ip" ? "iproute2" : "nftables"}; scripts/bootstrap.sh installs it)`;
  }
  return null;
}

function sh(args: string[], input?: string): void {
  const r = spawnSync(args[0]!, args.slice(1), { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`natlab: \`${args.join(" ")}\` failed: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
}

function listNamespaces(): string[] {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
  return r.stdout
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter(Boolean);
}

function killNamespace(ns: string): void {
  const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // Gone already.
    }
  }
  spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
}

/**
 * Deletes the namespaces of labs whose creating process is gone (a crashed or killed run).
 * Names carry the creator's pid, so labs of runs still going are left alone.
 */
export function cleanStaleLabs(): void {
  for (const ns of listNamespaces()) {
    const m = new RegExp(`^${namePrefix}(\\d+)x[0-9a-f]+-`).exec(ns);
    if (m && !alive(Number(m[1]))) killNamespace(ns);
  }
}

/** The router's nftables ruleset for a NAT kind: masquerade plus the filtering rules. */
export function routerRules(kind: Exclude<NatKind, "none">, hostAddress: string): string {
  // Linux's masquerade keeps the source port when it can: one host behind the router gets
  // endpoint-independent mapping. `random` picks a new port per connection: address-and-port-
  // dependent mapping. Conntrack alone lets in only replies to the exact address and port:
  // address-and-port-dependent filtering. Looser filtering sends new inbound flows on to the
  // host (its port is the mapped port), from anyone or from addresses it has contacted.
  const set = `set contacted { type ipv4_addr . inet_service; flags dynamic,timeout; timeout 5m; }`;
  const prerouting =
    kind === "eim-eif"
      ? `iifname "wan" udp dport 1024-65535 dnat to ${hostAddress}`
      : kind === "eim-adf"
        ? `iifname "wan" ip saddr . udp dport @contacted dnat to ${hostAddress}`
        : "";
  const forward = [
    kind === "eim-adf" ? `iifname "lan" meta l4proto udp update @contacted { ip daddr . udp sport }` : "",
    kind === "udp-blocked" ? `iifname "lan" meta l4proto udp drop` : "",
    kind === "udp-blocked" ? `iifname "lan" meta l4proto tcp tcp dport != 443 drop` : "",
  ];
  const chain = (name: string, hook: string, rules: string[]) =>
    `  chain ${name} {\n    type ${hook === "input" || hook === "forward" ? "filter" : "nat"} hook ${hook} priority ${{ prerouting: "dstnat", input: "filter", forward: "filter", postrouting: "srcnat" }[hook]}; policy accept;\n${rules
      .filter(Boolean)
      .map((r) => `    ${r}\n`)
      .join("")}  }\n`;
  return [
    "table ip natlab {\n",
    kind === "eim-adf" ? `  ${set}\n` : "",
    chain("prerouting", "prerouting", [prerouting]),
    // Unsolicited packets to the router itself are dropped before conntrack confirms them: a
    // confirmed entry for a peer's early ICE check would hold the tuple the host's own packet to
    // that peer needs, so masquerade would move it to another port (no longer endpoint-independent).
    chain("input", "input", [`iifname "wan" ct state new drop`]),
    chain("forward", "forward", forward),
    chain("postrouting", "postrouting", [`oifname "wan" masquerade${kind === "symmetric" ? " random" : ""}`]),
    "}\n",
  ].join("");
}

export interface NatLabOptions {
  /** One client network per entry, in this order. */
  nets: NatKind[];
  /** Public addresses the servers get in the public namespace. @default ["203.0.113.10"] */
  serverAddresses?: string[];
}

/**
 * Builds the lab. Deletes stale labs of crashed runs first; on any failure the half-built lab
 * is torn down before the error is thrown.
 *
 * @example
 * const lab = await startNatLab({ nets: ["eim-apdf", "symmetric"], serverAddresses: ["203.0.113.10"] });
 * try { await lab.run(lab.nets[0].ns, "node", [...]) } finally { await lab.destroy(); }
 */
export async function startNatLab(opts: NatLabOptions): Promise<NatLab> {
  const missing = natlabMissing();
  if (missing) throw new Error(missing);
  cleanStaleLabs();
  const prefix = `${namePrefix}${process.pid}x${randomBytes(3).toString("hex")}`;
  const pub = `${prefix}-pub`;
  const serverAddresses = opts.serverAddresses ?? ["203.0.113.10"];
  const created: string[] = [];
  const children = new Set<ChildProcess>();
  const inNs = (ns: string, ...args: string[]) => sh(["ip", "netns", "exec", ns, ...args]);
  const addNs = (ns: string) => {
    sh(["ip", "netns", "add", ns]);
    created.push(ns);
    sh(["ip", "-n", ns, "link", "set", "lo", "up"]);
    // IPv4 only: link-local IPv6 candidates would only add noise to every ICE check list.
    inNs(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
  };

  let destroyed: Promise<void> | undefined;
  const destroy = () => {
    destroyed ??= (async () => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      for (const ns of [...created].reverse()) killNamespace(ns);
    })();
    return destroyed;
  };

  const nets: ClientNet[] = [];
  try {
    addNs(pub);
    sh(["ip", "-n", pub, "link", "add", "br0", "type", "bridge"]);
    sh(["ip", "-n", pub, "link", "set", "br0", "up"]);
    for (const a of ["203.0.113.1", "198.51.100.1", ...serverAddresses]) sh(["ip", "-n", pub, "addr", "add", `${a}/24`, "dev", "br0"]);

    opts.nets.forEach((kind, index) => {
      const i = index + 1;
      const host = `${prefix}-h${i}`;
      addNs(host);
      if (kind === "none") {
        const address = `198.51.100.${100 + i}`;
        sh(["ip", "-n", pub, "link", "add", `v${i}`, "type", "veth", "peer", "name", "eth0", "netns", host]);
        sh(["ip", "-n", pub, "link", "set", `v${i}`, "master", "br0", "up"]);
        sh(["ip", "-n", host, "addr", "add", `${address}/24`, "dev", "eth0"]);
        sh(["ip", "-n", host, "link", "set", "eth0", "up"]);
        sh(["ip", "-n", host, "route", "add", "203.0.113.0/24", "dev", "eth0"]);
        nets.push({ kind, ns: host, address, publicAddress: address });
        return;
      }
      const router = `${prefix}-r${i}`;
      addNs(router);
      const wan = `198.51.100.${10 + i}`;
      const address = `10.0.${i}.2`;
      sh(["ip", "-n", pub, "link", "add", `v${i}`, "type", "veth", "peer", "name", "wan", "netns", router]);
      sh(["ip", "-n", pub, "link", "set", `v${i}`, "master", "br0", "up"]);
      sh(["ip", "-n", router, "addr", "add", `${wan}/24`, "dev", "wan"]);
      sh(["ip", "-n", router, "link", "set", "wan", "up"]);
      sh(["ip", "-n", router, "route", "add", "203.0.113.0/24", "dev", "wan"]);
      sh(["ip", "-n", router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", host]);
      sh(["ip", "-n", router, "addr", "add", `10.0.${i}.1/24`, "dev", "lan"]);
      sh(["ip", "-n", router, "link", "set", "lan", "up"]);
      sh(["ip", "-n", host, "addr", "add", `${address}/24`, "dev", "eth0"]);
      sh(["ip", "-n", host, "link", "set", "eth0", "up"]);
      sh(["ip", "-n", host, "route", "add", "default", "via", `10.0.${i}.1`]);
      inNs(router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
      sh(["ip", "netns", "exec", router, "nft", "-f", "-"], routerRules(kind, address));
      nets.push({ kind, ns: host, address, publicAddress: wan });
    });
  } catch (err) {
    await destroy();
    throw err;
  }

  const spawnIn = (ns: string, cmd: string, args: string[], o: SpawnOptions = {}) => {
    const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"], ...o });
    children.add(child);
    child.once("exit", () => children.delete(child));
    return child;
  };

  return {
    prefix,
    pub,
    serverAddresses,
    nets,
    spawn: spawnIn,
    run(ns, cmd, args, o = {}) {
      return new Promise((resolve) => {
        const child = spawnIn(ns, cmd, args, { env: o.env });
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), o.timeoutMs ?? 60_000);
        child.once("close", (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    },
    destroy,
  };
}

/** The lab's public addresses: the service, coturn and coturn's RFC 5780 alternate, and one for `vchat dev --host`. */
export const labAddresses = { service: "203.0.113.10", turn: "203.0.113.20", turnAlt: "203.0.113.21", dev: "203.0.113.30" } as const;

export interface LabService {
  /** `http://203.0.113.10:443` */
  url: string;
  turn: string[];
  /** coturn's self-signed certificate (TLS on 443), or null without openssl. */
  certFile: string | null;
  /** The environment a client in the lab needs: trusts `certFile`. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

/**
 * Starts `tests/support/natlab-service.ts` (vchat dev + coturn with RFC 5780) in the lab's
 * public namespace; the lab must have been built with `labAddresses` as its server addresses.
 */
export async function startLabService(lab: NatLab): Promise<LabService> {
  const script = new URL("./natlab-service.ts", import.meta.url).pathname;
  const child = lab.spawn(lab.pub, process.execPath, [script, labAddresses.service, labAddresses.turn, labAddresses.turnAlt]);
  let err = "";
  child.stderr!.on("data", (c: Buffer) => (err += c.toString()));
  const ready = await new Promise<{ url: string; turn: string[]; certFile: string | null }>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`natlab: the service did not start in 20 s\n${err}`)), 20_000);
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line && out.includes("\n")) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { url: string; turn: string[]; certFile: string | null });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`natlab: the service exited (${code})\n${err}`));
    });
  });
  const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once("exit", () => r())));
  return {
    ...ready,
    env: { ...process.env, ...(ready.certFile ? { NODE_EXTRA_CA_CERTS: ready.certFile } : {}) },
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
