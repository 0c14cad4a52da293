/**
 * Redis key names (docs/design.md, "Redis keys"). Every part uses these, never its own string building.
 *
 * Two rules decide the names:
 * - **Slots** (Redis Cluster): keys one step touches together (the dead-letter MULTI, the publish
 *   script, the replay script) must hash to one slot. In cluster mode a stream without a hash tag,
 *   `S`, gets derived keys tagged with the whole name, `{S}:dlq` and `{S}:idem:…` (Redis hashes `S`
 *   as a whole and `{S}…` by its tag `S`: the same slot); a stream with a hash tag (`{x}y`, `S{0}`)
 *   keeps `S:dlq`, `S:idem:…`, which inherit its tag. One server keeps the plain names.
 * - **Shards** (`STREAM_SHARDS`): with N > 1, stream `S` is the keys `S{0}` … `S{N-1}`, one slot each.
 */

/** How derived keys are named: `cluster` tags them with the stream's slot (see the module comment). */
export interface KeyMode {
  /** Redis Cluster: derived keys share the stream's slot. */
  cluster: boolean;
}

/** One server (plain names). */
export const SINGLE_SERVER: KeyMode = Object.freeze({ cluster: false });

/**
 * The hash tag Redis Cluster hashes `key` by (the text between the first `{` and the first `}` after
 * it, when not empty), or undefined when the whole key is hashed.
 */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open === -1) return undefined;
  const close = key.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return undefined;
  return key.slice(open + 1, close);
}

/**
 * The prefix of the keys derived from `stream`: the stream itself on one server or when it has a hash
 * tag; `{stream}` in cluster mode otherwise. A stream without a hash tag but with a `}` cannot be
 * tagged with its own name (the tag would end early): a RangeError says so.
 */
export function derivedPrefix(stream: string, mode: KeyMode = SINGLE_SERVER): string {
  if (!mode.cluster || hashTagOf(stream) !== undefined) return stream;
  if (stream.includes('}')) {
    throw new RangeError(`stream ${JSON.stringify(stream)} holds a "}" but no hash tag: in Redis Cluster its derived keys cannot share its slot; give it a hash tag ({…}) or drop the "}"`);
  }
  return `{${stream}}`;
}

/** The dead-letter stream of `stream` (`S:dlq`; `{S}:dlq` in cluster mode for a stream without a hash tag). */
export function deadLetterKey(stream: string, mode: KeyMode = SINGLE_SERVER): string {
  return `${derivedPrefix(stream, mode)}:dlq`;
}

/** The idempotency marker of an event `source`+`id` appended to `stream` (same slot as the stream). */
export function idempotencyKey(stream: string, source: string, id: string, mode: KeyMode = SINGLE_SERVER): string {
  return `${derivedPrefix(stream, mode)}:idem:${source}:${id}`;
}

/** The glob matching every idempotency marker of `stream` (for cleanup), escaped for SCAN MATCH. */
export function idempotencyPattern(stream: string, mode: KeyMode = SINGLE_SERVER): string {
  return `${derivedPrefix(stream, mode).replace(/[*?[\]\\]/g, '\\$&')}:idem:*`;
}

/** Most shards of one stream (`STREAM_SHARDS`). */
export const MAX_STREAM_SHARDS = 1024;

/** The key of shard `index` of `stream` split into `shards` (`S{i}`); `stream` itself when `shards` is 1. */
export function shardKey(stream: string, index: number, shards: number): string {
  checkShards(shards);
  if (!Number.isInteger(index) || index < 0 || index >= shards) throw new RangeError(`shard index must be an integer in [0, ${shards - 1}], got ${index}`);
  return shards === 1 ? stream : `${stream}{${index}}`;
}

/** The keys of `stream` split into `shards`: `[S{0}, …, S{N-1}]`, or `[stream]` for 1. */
export function shardKeys(stream: string, shards: number): string[] {
  checkShards(shards);
  return Array.from({ length: shards }, (_, i) => shardKey(stream, i, shards));
}

/** What a shard key names. */
export interface ShardRef {
  /** The sharded stream's name (`S` of `S{3}`). */
  stream: string;
  /** The shard's index (`3` of `S{3}`). */
  index: number;
}

/**
 * The stream and shard index a shard key names (`S{3}` → `{ stream: 'S', index: 3 }`), when its index
 * is below `shards`; undefined for any other key (and for every key when `shards` is 1).
 */
export function parseShardKey(key: string, shards: number): ShardRef | undefined {
  if (shards <= 1) return undefined;
  const m = /^(.+)\{(0|[1-9]\d{0,3})\}$/s.exec(key);
  if (!m) return undefined;
  const index = Number(m[2]);
  return index < shards ? { stream: m[1]!, index } : undefined;
}

function checkShards(shards: number): void {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_STREAM_SHARDS) throw new RangeError(`shards must be an integer in [1, ${MAX_STREAM_SHARDS}], got ${shards}`);
}

/**
 * The shard of a partition key: FNV-1a (32 bit) over its UTF-8 bytes, modulo `shards`. Stable across
 * processes, versions and languages (so every producer sends one key to one shard, where it keeps its
 * order), and spread evenly for distinct keys.
 */
export function shardOf(partitionKey: string, shards: number): number {
  checkShards(shards);
  if (shards === 1) return 0;
  let h = 0x811c9dc5;
  for (const b of Buffer.from(partitionKey, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
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
