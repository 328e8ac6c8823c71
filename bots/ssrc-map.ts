/**
 * State per SSRC for the few streams of one call (two or three): a scan of a short array. A
 * `Map` hashes the key on every packet, and an SSRC above 2^30 is a heap number, not a small
 * integer, which made the lookups 2 % of a bot's CPU. Only authenticated packets add entries.
 */
export class SsrcMap<V> {
  private readonly keys: number[] = [];
  private readonly entries: V[] = [];

  get(ssrc: number): V | undefined {
    const i = this.keys.indexOf(ssrc);
    return i < 0 ? undefined : this.entries[i];
  }

  set(ssrc: number, value: V): void {
    const i = this.keys.indexOf(ssrc);
    if (i >= 0) this.entries[i] = value;
    else {
      this.keys.push(ssrc);
      this.entries.push(value);
    }
  }

  values(): readonly V[] {
    return this.entries;
  }
}
