/**
 * TURN security exposure: would the server relay to addresses inside the deployment's network?
 * A TURN server that does is an open proxy into it for anyone with credentials (and every user
 * of the service gets credentials). Cloud metadata at 169.254.169.254 hands out instance keys.
 *
 * We only ask the server: CreatePermission and ChannelBind install state on the server and send
 * nothing to the peer (RFC 8656 §9, §12); the answer 403 means refused. No packet ever goes
 * towards these addresses: no Send indication, no ChannelData.
 */
import { TurnError, type TurnAllocation } from "../turn/client.ts";
import { coturnVersion, isLoopback, openAllocation, transportWords, type Outcome, type ServerTarget } from "./servers.ts";

export const exposureCategories = ["loopback", "private", "link-local", "mapped", "control"] as const;
export type ExposureCategory = (typeof exposureCategories)[number];

export interface Probe {
  address: string;
  category: ExposureCategory;
  label: string;
}

export const probes: Probe[] = [
  // A public address the server must accept, or every "refused" below means nothing.
  { address: "8.8.8.8", category: "control", label: "public control" },
  { address: "127.0.0.1", category: "loopback", label: "loopback" },
  { address: "0.0.0.0", category: "loopback", label: "this host (0.0.0.0 reaches loopback on Linux)" },
  { address: "10.0.0.1", category: "private", label: "private 10/8" },
  { address: "172.16.0.1", category: "private", label: "private 172.16/12" },
  { address: "192.168.0.1", category: "private", label: "private 192.168/16" },
  { address: "100.64.0.1", category: "private", label: "carrier-grade NAT 100.64/10" },
  { address: "169.254.169.254", category: "link-local", label: "cloud metadata (link-local)" },
  { address: "::ffff:127.0.0.1", category: "mapped", label: "IPv4-mapped loopback" },
  { address: "::ffff:169.254.169.254", category: "mapped", label: "IPv4-mapped metadata" },
  { address: "::ffff:10.0.0.1", category: "mapped", label: "IPv4-mapped private" },
  { address: "::1", category: "loopback", label: "IPv6 loopback" },
  { address: "fe80::1", category: "link-local", label: "IPv6 link-local" },
  { address: "fd00::1", category: "private", label: "IPv6 unique local" },
  { address: "64:ff9b::a9fe:a9fe", category: "mapped", label: "NAT64 form of the metadata address" },
];

export type ProbeAnswer = "allowed" | "refused" | "family-mismatch" | "not-applicable" | "error";

export interface ProbeResult extends Probe {
  answer: ProbeAnswer;
  via?: "create-permission" | "channel-bind";
  detail?: string;
}

async function ask(alloc: TurnAllocation, p: Probe, channel: number): Promise<ProbeResult> {
  const peer = { family: p.address.includes(":") ? (6 as const) : (4 as const), address: p.address, port: 9 };
  let refusedBy: string | undefined;
  for (const via of ["create-permission", "channel-bind"] as const) {
    try {
      if (via === "create-permission") await alloc.createPermission([peer]);
      else await alloc.channelBind(channel, peer);
      return { ...p, answer: "allowed", via };
    } catch (err) {
      if (err instanceof TurnError && err.code === 403) refusedBy = err.reason;
      else if (err instanceof TurnError && (err.code === 443 || err.code === 440)) return { ...p, answer: "family-mismatch", detail: `${err.code} ${err.reason}` };
      else return { ...p, answer: "error", detail: (err as Error).message };
    }
  }
  return { ...p, answer: "refused", detail: `403 ${refusedBy ?? ""}`.trim() };
}

/** Settings that close each hole, for the verdict. */
const fixes: Record<ExposureCategory, string> = {
  loopback: "remove allow-loopback-peers and add denied-peer-ip=127.0.0.0-127.255.255.255 and denied-peer-ip=::1",
  private: "add denied-peer-ip for 10.0.0.0-10.255.255.255, 172.16.0.0-172.31.255.255, 192.168.0.0-192.168.255.255, 100.64.0.0-100.127.255.255 and fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  "link-local": "add denied-peer-ip=169.254.0.0-169.254.255.255 and denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
  mapped: "add denied-peer-ip=::ffff:0.0.0.0-::ffff:255.255.255.255 and 64:ff9b::-64:ff9b::ffff:ffff, and run coturn 4.9 or newer (CVE-2026-27624)",
  control: "",
};

export async function checkExposure(target: ServerTarget | undefined, ip: string | undefined, timeoutMs: number): Promise<Outcome> {
  if (!target || !ip || !target.creds) return { status: "skipped", verdict: "no working TURN transport to ask" };
  const results: ProbeResult[] = [];
  const v6 = probes.filter((p) => p.address.includes(":"));
  let alloc4: TurnAllocation;
  let software: string | undefined;
  try {
    alloc4 = await openAllocation(target, ip, timeoutMs, 4);
  } catch (err) {
    return { status: "fail", verdict: `could not allocate to ask: ${transportWords(err)}` };
  }
  software = alloc4.software;
  try {
    // IPv6 peer forms go to an IPv4 allocation too: a server that mishandles mapped forms may accept them there.
    results.push(...(await Promise.all(probes.map((p, i) => ask(alloc4, p, 0x4000 + i)))));
  } finally {
    await alloc4.close();
  }
  let v6relay = false;
  try {
    const alloc6 = await openAllocation(target, ip, timeoutMs, 6);
    v6relay = true;
    try {
      const r6 = await Promise.all(v6.map((p, i) => ask(alloc6, p, 0x4100 + i)));
      // Keep the IPv6 allocation's answer: that is where IPv6 peers are judged.
      for (const r of r6) {
        const at = results.findIndex((x) => x.address === r.address);
        if (r.answer !== "family-mismatch" || results[at]!.answer === "family-mismatch") results[at] = r;
      }
    } finally {
      await alloc6.close();
    }
  } catch {
    // 440: the server relays IPv4 only; IPv6 peers are unreachable through it.
  }
  for (const r of results) if (r.answer === "family-mismatch") r.answer = "not-applicable";

  const localServer = isLoopback(ip);
  const control = results.find((r) => r.category === "control");
  const allowed = results.filter((r) => r.answer === "allowed" && r.category !== "control");
  // On a server that itself listens on loopback (vchat dev), loopback peers are how two local peers meet.
  const harmful = allowed.filter((r) => !(localServer && (r.category === "loopback" || (r.category === "mapped" && /127\.0\.0\.1$/.test(r.address)))));
  const version = coturnVersion(software);
  // coturn before 4.9 let IPv4-mapped IPv6 peers past denied-peer-ip (CVE-2026-27624); it matters once IPv6 is relayed.
  const oldCoturn = !!version && (version[0] < 4 || (version[0] === 4 && version[1] < 9));
  const details = {
    software,
    ipv6Relay: v6relay,
    probes: results.map(({ address, label, answer, via, detail }) => ({ address, label, answer, via, detail })),
  };
  if (harmful.length) {
    const cats = [...new Set(harmful.map((h) => h.category))];
    const excused = allowed.length > harmful.length ? " (it relays to loopback too, which only a server on loopback may)" : "";
    return {
      status: "fail",
      verdict: `the server relays to ${harmful.map((h) => `${h.address} (${h.label})`).join(", ")}${excused}: anyone with credentials can reach your internal network. Fix: ${cats.map((c) => fixes[c]).join("; ")}`,
      details: { ...details, fix: cats.map((c) => fixes[c]) },
    };
  }
  if (oldCoturn && v6relay) {
    return {
      status: "warn",
      verdict: `no internal address was accepted, but ${software} is older than 4.9 and relays IPv6: IPv4-mapped peers can bypass denied-peer-ip there (CVE-2026-27624); upgrade coturn`,
      details,
    };
  }
  if (control && control.answer !== "allowed") {
    return {
      status: "warn",
      verdict: `the server refuses even the public address ${control.address} (${control.detail ?? control.answer}): it relays nowhere, so its refusals say nothing about its rules and calls cannot use it; check its denied-peer-ip ranges`,
      details,
    };
  }
  const errors = results.filter((r) => r.answer === "error");
  if (errors.length) return { status: "warn", verdict: `unclear answers for ${errors.map((e) => e.address).join(", ")}: ${errors[0]!.detail}`, details };
  const refused = results.filter((r) => r.answer === "refused").length;
  let note = allowed.length ? `; loopback relaying is allowed, which a server on loopback (local mode) needs` : "";
  if (oldCoturn) note += `; ${software} predates 4.9: upgrade before relaying IPv6`;
  return {
    status: "pass",
    verdict: `refuses loopback, private, link-local and metadata peers (${refused} refused with 403${v6relay ? "" : ", IPv6 peers not relayed at all"}) and accepts public ones${note}`,
    details,
  };
}
