/**
 * A token bucket per client (`RATE_LIMIT_PER_S`): each client may send `ratePerS` requests per second
 * on average and up to `burst` at once. Buckets that are full hold no information and are dropped
 * when the table grows, so its memory stays bounded by the number of clients active within ~1 s.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly ratePerS: number,
    readonly burst: number = Math.max(1, ratePerS),
    private readonly now: () => number = () => performance.now(),
    private readonly maxClients = 10_000,
  ) {
    if (!(ratePerS > 0)) throw new RangeError(`ratePerS must be > 0, got ${ratePerS}`);
    if (!(burst >= 1)) throw new RangeError(`burst must be ≥ 1, got ${burst}`);
  }

  /** Takes one token for `client`: 0 when allowed, else the seconds to wait before the next token (> 0). */
  take(client: string): number {
    const t = this.now();
    let b = this.buckets.get(client);
    if (b === undefined) {
      if (this.buckets.size >= this.maxClients) this.prune(t);
      b = { tokens: this.burst, at: t };
      this.buckets.set(client, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.ratePerS);
      b.at = t;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.ratePerS;
  }

  /** Clients tracked now (for tests of the memory bound). */
  get size(): number {
    return this.buckets.size;
  }

  private prune(t: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((t - b.at) / 1000) * this.ratePerS >= this.burst) this.buckets.delete(k);
    }
    // Still full of busy clients: forget the oldest (Map keeps insertion order), fail open for them.
    for (const k of this.buckets.keys()) {
      if (this.buckets.size < this.maxClients) break;
      this.buckets.delete(k);
    }
  }
}
