/** Redis key names (docs/design.md, "Redis keys"). Every part uses these, never its own string building. */

/** The dead-letter stream of `stream`. */
export function deadLetterKey(stream: string): string {
  return `${stream}:dlq`;
}

/** The idempotency marker of an event `source`+`id` appended to `stream`. */
export function idempotencyKey(stream: string, source: string, id: string): string {
  return `${stream}:idem:${source}:${id}`;
}

/** Milliseconds part of a stream entry id (`<ms>-<seq>`), or NaN for a malformed id. */
export function entryIdMs(id: string): number {
  const dash = id.indexOf('-');
  const ms = Number(dash === -1 ? id : id.slice(0, dash));
  return Number.isFinite(ms) ? ms : NaN;
}

/** Compares two stream ids numerically: negative when a < b. */
export function compareEntryIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  const d = BigInt(am!) - BigInt(bm!);
  if (d !== 0n) return d < 0n ? -1 : 1;
  const e = BigInt(as) - BigInt(bs);
  return e === 0n ? 0 : e < 0n ? -1 : 1;
}
