/**
 * A small TURN client (RFC 8656) over a `StunSocket`: Allocate with long-term credentials
 * (§7.2, with the 401 challenge and 438 stale-nonce retry of RFC 8489 §9.2), Refresh (§7.3),
 * CreatePermission (§9), ChannelBind (§12), Send/Data indications (§10) and ChannelData.
 */
import {
  attr,
  channelNumberAttr,
  encode,
  encodeChannelData,
  longTermKey,
  message,
  methods,
  readError,
  readString,
  readUint32,
  readXorAddress,
  requestedFamilyAttr,
  requestedTransportAttr,
  stringAttr,
  uint32Attr,
  verifyIntegrity,
  xorAddressAttr,
  type Attribute,
  type StunMessage,
  type TransportAddress,
} from "./stun.ts";
import type { StunSocket } from "./transport.ts";

export interface TurnCredentials {
  username: string;
  password: string;
}

/** What each TURN/STUN error code means, in words an operator understands (RFC 8489 §14.8, RFC 8656 §19). */
export const errorMeanings: Record<number, string> = {
  300: "the server redirects to another server (Try Alternate)",
  400: "the server could not parse our request (Bad Request)",
  401: "the server rejected the user name or password (Unauthorized)",
  403: "the server refuses this (Forbidden)",
  420: "the server does not understand a required attribute (Unknown Attribute)",
  437: "the allocation does not match this connection: an old allocation from the same address and port is still alive (Allocation Mismatch)",
  438: "the server's nonce expired (Stale Nonce)",
  440: "the server cannot relay this address family (Address Family not Supported)",
  441: "the credentials do not match the allocation: the user name changed mid-allocation (Wrong Credentials)",
  442: "the server cannot relay this transport (Unsupported Transport Protocol)",
  443: "the peer's address family differs from the relayed address (Peer Address Family Mismatch)",
  486: "this user already holds the most allocations the server allows (Allocation Quota Reached)",
  500: "the server hit an internal error (Server Error)",
  508: "the server has no relay ports or capacity left (Insufficient Capacity)",
};

export function describeError(code: number, reason?: string): string {
  return errorMeanings[code] ?? `error ${code}${reason ? ` (${reason})` : ""}`;
}

/** An error answer from the server, with its code and a meaning in words. */
export class TurnError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly phase: string;
  constructor(phase: string, code: number, reason: string) {
    super(`${phase}: ${code} ${reason} — ${describeError(code, reason)}`);
    this.name = "TurnError";
    this.code = code;
    this.reason = reason;
    this.phase = phase;
  }
}

/** The steps of authentication, for the report: e.g. ["401 challenge", "success"]. */
export type AuthStep = { code: number | "success"; note: string };

export interface AllocateOptions {
  timeoutMs: number;
  family?: 4 | 6;
  /** Relay protocol asked for: UDP (WebRTC's), or TCP (RFC 6062 §5.1, over a TCP control connection). @default "udp" */
  relay?: "udp" | "tcp";
  /** Requested lifetime in seconds (§7.2 LIFETIME). */
  lifetime?: number;
  software?: string;
}

export class TurnAllocation {
  readonly socket: StunSocket;
  readonly relayed: TransportAddress;
  readonly mapped?: TransportAddress;
  lifetime: number;
  readonly authSteps: AuthStep[];
  /** Time of the successful Allocate transaction alone, in ms. */
  readonly allocateRttMs: number;
  /** The server's SOFTWARE attribute, e.g. "Coturn-4.6.1 'Gorst'". */
  readonly software?: string;
  private readonly creds: TurnCredentials;
  private realm: string;
  private nonce: string;
  private key: Buffer;
  private readonly timeoutMs: number;
  private freed = false;

  private constructor(init: {
    socket: StunSocket;
    relayed: TransportAddress;
    mapped?: TransportAddress;
    lifetime: number;
    authSteps: AuthStep[];
    allocateRttMs: number;
    software?: string;
    creds: TurnCredentials;
    realm: string;
    nonce: string;
    timeoutMs: number;
  }) {
    this.socket = init.socket;
    this.relayed = init.relayed;
    this.mapped = init.mapped;
    this.lifetime = init.lifetime;
    this.authSteps = init.authSteps;
    this.allocateRttMs = init.allocateRttMs;
    this.software = init.software;
    this.creds = init.creds;
    this.realm = init.realm;
    this.nonce = init.nonce;
    this.key = longTermKey(init.creds.username, init.realm, init.creds.password);
    this.timeoutMs = init.timeoutMs;
  }

  /**
   * Allocates a relayed address (§7.2). The first request goes without credentials, as a client
   * that does not know the realm must (RFC 8489 §9.2.3); a 401 with REALM and NONCE is the
   * expected challenge. Throws `TurnError` with `authSteps` attached on failure.
   */
  static async allocate(socket: StunSocket, creds: TurnCredentials, opts: AllocateOptions): Promise<TurnAllocation> {
    const steps: AuthStep[] = [];
    const baseAttrs = (): Attribute[] => {
      const a: Attribute[] = [requestedTransportAttr(opts.relay === "tcp" ? 6 : 17)];
      if (opts.family) a.push(requestedFamilyAttr(opts.family));
      if (opts.lifetime) a.push(uint32Attr(attr.lifetime, opts.lifetime));
      if (opts.software) a.push(stringAttr(attr.software, opts.software));
      return a;
    };
    const first = await socket.request(message(methods.allocate, "request", baseAttrs()), { timeoutMs: opts.timeoutMs, encode: { fingerprint: true } });
    let res = first.res;
    let rtt = first.rttMs;
    let realm = "";
    let nonce = "";
    for (let attempt = 0; res.cls === "error" && attempt < 3; attempt++) {
      const err = readError(res) ?? { code: 0, reason: "no ERROR-CODE" };
      const fail = () => Object.assign(new TurnError("allocate", err.code, err.reason), { authSteps: steps });
      if (err.code === 401 && attempt === 0) {
        steps.push({ code: 401, note: "challenge (expected)" });
      } else if (err.code === 438) {
        steps.push({ code: 438, note: "stale nonce, retrying with the new one" });
      } else {
        steps.push({ code: err.code, note: describeError(err.code, err.reason) });
        throw fail();
      }
      realm = readString(res, attr.realm) ?? realm;
      nonce = readString(res, attr.nonce) ?? nonce;
      if (!realm || !nonce) throw fail();
      const key = longTermKey(creds.username, realm, creds.password);
      const attrs = [...baseAttrs(), stringAttr(attr.username, creds.username), stringAttr(attr.realm, realm), stringAttr(attr.nonce, nonce)];
      const r = await socket.request(message(methods.allocate, "request", attrs), { timeoutMs: opts.timeoutMs, encode: { integrityKey: key, fingerprint: true } });
      res = r.res;
      rtt = r.rttMs;
    }
    if (res.cls !== "success") {
      const err = readError(res) ?? { code: 0, reason: "no answer" };
      throw Object.assign(new TurnError("allocate", err.code, err.reason), { authSteps: steps });
    }
    if (!verifyIntegrity(res, longTermKey(creds.username, realm, creds.password))) {
      // The server knew our password yet signed its answer with another key: something in between rewrote it.
      steps.push({ code: "success", note: "success, but the answer's MESSAGE-INTEGRITY does not verify" });
    } else steps.push({ code: "success", note: "authenticated" });
    const relayed = readXorAddress(res, attr.xorRelayedAddress);
    if (!relayed) throw Object.assign(new TurnError("allocate", 0, "success without XOR-RELAYED-ADDRESS"), { authSteps: steps });
    return new TurnAllocation({
      socket,
      relayed,
      mapped: readXorAddress(res, attr.xorMappedAddress),
      lifetime: readUint32(res, attr.lifetime) ?? 600,
      authSteps: steps,
      allocateRttMs: rtt,
      software: readString(res, attr.software),
      creds,
      realm,
      nonce,
      timeoutMs: opts.timeoutMs,
    });
  }

  /**
   * An authenticated request with one retry on 438 Stale Nonce (RFC 8489 §9.2.4). Attributes are
   * built per transaction because XOR-PEER-ADDRESS of IPv6 peers is XORed with its id.
   */
  async request(method: number, build: (transactionId: Buffer) => Attribute[], phase: string): Promise<StunMessage> {
    for (let attempt = 0; ; attempt++) {
      const msg = message(method, "request");
      msg.attributes = [
        ...build(msg.transactionId),
        stringAttr(attr.username, this.creds.username),
        stringAttr(attr.realm, this.realm),
        stringAttr(attr.nonce, this.nonce),
      ];
      const { res } = await this.socket.request(msg, { timeoutMs: this.timeoutMs, encode: { integrityKey: this.key, fingerprint: true } });
      if (res.cls === "success") return res;
      const err = readError(res) ?? { code: 0, reason: "no ERROR-CODE" };
      if (err.code === 438 && attempt === 0) {
        this.nonce = readString(res, attr.nonce) ?? this.nonce;
        this.realm = readString(res, attr.realm) ?? this.realm;
        this.key = longTermKey(this.creds.username, this.realm, this.creds.password);
        continue;
      }
      throw new TurnError(phase, err.code, err.reason);
    }
  }

  /** Refresh (§7.3); lifetime 0 frees the allocation. Returns the granted lifetime. */
  async refresh(lifetime: number): Promise<number> {
    const res = await this.request(methods.refresh, () => [uint32Attr(attr.lifetime, lifetime)], "refresh");
    this.lifetime = readUint32(res, attr.lifetime) ?? lifetime;
    return this.lifetime;
  }

  /** CreatePermission for peer IPs (§9). A 403 means the server refuses to relay to that peer. */
  async createPermission(peers: TransportAddress[]): Promise<void> {
    await this.request(methods.createPermission, (tid) => peers.map((p) => xorAddressAttr(attr.xorPeerAddress, p, tid)), "create-permission");
  }

  /** ChannelBind (§12.2): channel 0x4000..0x4FFF to one peer transport address. */
  async channelBind(channel: number, peer: TransportAddress): Promise<void> {
    await this.request(methods.channelBind, (tid) => [channelNumberAttr(channel), xorAddressAttr(attr.xorPeerAddress, peer, tid)], "channel-bind");
  }

  /**
   * Connect (RFC 6062 §4.3) on a TCP allocation: the server opens a TCP connection to the peer.
   * Returns the CONNECTION-ID to bind a data connection with.
   */
  async connect(peer: TransportAddress): Promise<number> {
    const res = await this.request(methods.connect, (tid) => [xorAddressAttr(attr.xorPeerAddress, peer, tid)], "connect");
    return readUint32(res, attr.connectionId) ?? 0;
  }

  /** Send indication (§10.1): needs a permission for the peer's IP. */
  sendIndication(peer: TransportAddress, data: Buffer) {
    const msg = message(methods.send, "indication");
    msg.attributes = [xorAddressAttr(attr.xorPeerAddress, peer, msg.transactionId), { type: attr.data, value: data }];
    this.socket.sendRaw(encode(msg));
  }

  /** ChannelData (§12.4): 4 bytes of overhead instead of 36. */
  sendChannelData(channel: number, data: Buffer) {
    this.socket.sendRaw(encodeChannelData(channel, data, this.socket.isStream));
  }

  /** Data arriving from peers, by Data indication (with the peer address) or on a channel. */
  onData(cb: (d: { peer?: TransportAddress; channel?: number; data: Buffer }) => void): () => void {
    return this.socket.onIncoming((inc) => {
      if (inc.channel) cb({ channel: inc.channel.channel, data: inc.channel.data });
      else if (inc.msg && inc.msg.cls === "indication" && inc.msg.method === methods.data) {
        const data = inc.msg.attributes.find((a) => a.type === attr.data)?.value;
        if (data) cb({ peer: readXorAddress(inc.msg, attr.xorPeerAddress), data });
      }
    });
  }

  /** Frees the allocation (Refresh with lifetime 0) so it does not hold a relay port, then closes. */
  async close(): Promise<void> {
    if (!this.freed) {
      this.freed = true;
      try {
        await this.refresh(0);
      } catch {
        // The socket may be gone already; the allocation then expires on its own.
      }
    }
    this.socket.close();
  }
}

