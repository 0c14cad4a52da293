import type { RedisConnection } from '../redis';
import { LuaScript } from '../lua';
import { buildEvent, toFields, type BuildContext, type StreamEvent } from './envelope';
import type { FieldError } from './event-schema';
import { idempotencyKey, shardKey, type KeyMode } from './keys';
import { isClusterClient } from './slots';
import { ShardPicker } from './sharding';

/** One Lua script per batch, all-or-nothing and idempotent: its arguments and reply are described in lua/publish.lua. */
const PUBLISH_SCRIPT = new LuaScript('publish');

/** Options for {@link StreamProducer}. */
export interface StreamProducerOptions {
  /** A `command` connection (core `createRedis`). The caller owns it and closes it. */
  redis: RedisConnection;
  /** Approximate trim (`MAXLEN ~`) applied by every append; 0 = never trim. Default 1000000. */
  maxLen?: number;
  /** Lifetime of an idempotency marker in seconds; default 86400. */
  idempotencyTtlS?: number;
  /** Largest encoded event (sum of its field strings, UTF-8 bytes); default 262144. */
  maxEventBytes?: number;
  /** Most events per `publish` call; default 1000. */
  batchMax?: number;
  /** Default deadline of one `publish` call in ms; default 2000. */
  timeoutMs?: number;
  /** Shards of every stream published to (`STREAM_SHARDS`): N > 1 appends to `S{0}` … `S{N-1}`; default 1. */
  shards?: number;
  /** How derived keys (idempotency markers) are named: `{ cluster: true }` in Redis Cluster; default from the connection (a Cluster client: cluster). */
  keyMode?: KeyMode;
  /**
   * Replicas that must hold an append before `publish` resolves (`PRODUCER_MIN_REPLICAS_ACK`): above 0
   * the script is followed by `WAIT` on the same connection, in one pipeline, within the deadline;
   * fewer replicas: {@link PublishNotReplicatedError}. Default 0 (asynchronous replication: a failover
   * may lose appends the replicas had not received; docs/redis.md). Not with a Redis Cluster client.
   * The connection should not re-send commands after a reconnect (ioredis `autoResendUnfulfilledCommands:
   * false`, as `createPublisher` and the producer service make it), so a WAIT never runs on another
   * connection than the append it confirms.
   */
  minReplicasAck?: number;
}

/** Per-call options of {@link StreamProducer.publish}. */
export interface PublishOptions {
  /** Context for events that carry no `correlationid`/`traceparent` (e.g. HTTP headers). */
  ctx?: BuildContext;
  /** Deadline of this call in ms; default the producer's `timeoutMs`. */
  timeoutMs?: number;
  /** Name fields by position (`[3].type`); default true when more than one event is given. */
  indexFields?: boolean;
}

/** What {@link StreamProducer.publish} returns. */
export interface PublishResult {
  /** The entry id of each event, in input order (for a duplicate, the entry of its first append). */
  ids: string[];
  /** How many events were duplicates of an earlier append (nothing appended for them). */
  duplicates: number;
  /** The events as built (ids, times and correlation ids filled in). */
  events: StreamEvent[];
}

/** The batch held an invalid event: nothing was appended. `errors` name the fields (`[3].type`). */
export class PublishValidationError extends Error {
  constructor(
    /** What is wrong, one entry per field. */
    readonly errors: FieldError[],
  ) {
    super(`invalid event(s): ${errors.slice(0, 5).map((e) => `${e.field} ${e.message}`).join('; ')}${errors.length > 5 ? ` (+${errors.length - 5} more)` : ''}`);
    this.name = 'PublishValidationError';
  }
}

/** An event or the batch exceeds a limit: nothing was appended. */
export class PublishLimitError extends Error {
  constructor(
    message: string,
    /** `event_bytes` or `batch_count`. */
    readonly limit: 'event_bytes' | 'batch_count',
    /** The limit exceeded. */
    readonly max: number,
    /** The offending field (`[3]`), when one event is too large. */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'PublishLimitError';
  }
}

/**
 * Redis did not confirm the append: unreachable, failing, or slower than the deadline. The batch may
 * or may not have been appended (a script sent before the deadline can still run): retry with the
 * same event ids and idempotency makes the retry safe.
 */
export class PublishUnavailableError extends Error {
  constructor(
    message: string,
    /** True when Redis did not confirm in time (the append may still land: resend with the same ids). */
    readonly timedOut: boolean,
  ) {
    super(message);
    this.name = 'PublishUnavailableError';
  }
}

/**
 * The append was made, but fewer replicas than `minReplicasAck` confirmed it within the deadline (or the
 * connection broke before WAIT answered): it may be lost on a failover. Resend with the same event ids.
 */
export class PublishNotReplicatedError extends PublishUnavailableError {
  constructor(
    /** Replicas that confirmed (WAIT's reply); undefined when WAIT did not answer. */
    readonly replicas: number | undefined,
    /** Replicas required. */
    readonly required: number,
  ) {
    super(replicas === undefined ? `WAIT did not answer on the connection that appended` : `${replicas} of ${required} required replicas confirmed the append in time`, false);
    this.name = 'PublishNotReplicatedError';
  }
}

/**
 * Appends events to a stream as the envelope of docs/design.md ("Event envelope"), one Lua script
 * per batch: validated first (an invalid event rejects the whole batch), trimmed with `MAXLEN ~`,
 * idempotent on `source`+`id` for events that carry their own `id` (a marker
 * `<stream>:idem:<source>:<id>` holds the first entry id for `idempotencyTtlS`). Events without an
 * `id` get a random one and no marker (nobody can resend them under the same id, and a marker per
 * event would cost memory for nothing).
 *
 * Redis Cluster (`keyMode.cluster`): the markers share the stream's slot (keys.ts). With `shards` > 1
 * each event goes to the shard its partition key picks (sharding.ts, `ShardPicker`), and a batch is
 * one script per shard: appended all-or-nothing per shard, not across shards.
 */
export class StreamProducer {
  /** Approximate trim of each stream on append; 0 = never. */
  readonly maxLen: number;
  /** Seconds a `source`+`id` is remembered: a resend within it appends nothing. */
  readonly idempotencyTtlS: number;
  /** Largest encoded event accepted. */
  readonly maxEventBytes: number;
  /** Most events in one `publishBatch`. */
  readonly batchMax: number;
  /** Deadline for Redis to confirm an append. */
  readonly timeoutMs: number;
  /** Shards of every stream (1: no sharding). */
  readonly shards: number;
  private readonly redis: RedisConnection;
  private readonly keyMode: KeyMode;
  private readonly pickers = new Map<string, ShardPicker>();
  /** Replicas an append must reach before `publish` resolves (WAIT); 0: none. */
  readonly minReplicasAck: number;

  constructor(opts: StreamProducerOptions) {
    this.redis = opts.redis;
    this.minReplicasAck = opts.minReplicasAck ?? 0;
    if (!Number.isInteger(this.minReplicasAck) || this.minReplicasAck < 0) throw new RangeError(`minReplicasAck must be an integer ≥ 0, got ${this.minReplicasAck}`);
    if (this.minReplicasAck > 0 && (opts.redis as { isCluster?: boolean }).isCluster) throw new RangeError('minReplicasAck > 0 is not supported with a Redis Cluster client');
    this.shards = opts.shards ?? 1;
    this.keyMode = opts.keyMode ?? { cluster: isClusterClient(opts.redis) };
    shardKey('s', 0, this.shards); // throws a RangeError naming the allowed range
    this.maxLen = opts.maxLen ?? 1_000_000;
    this.idempotencyTtlS = opts.idempotencyTtlS ?? 86_400;
    this.maxEventBytes = opts.maxEventBytes ?? 262_144;
    this.batchMax = opts.batchMax ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 2000;
    if (!Number.isInteger(this.maxLen) || this.maxLen < 0) throw new RangeError(`maxLen must be an integer ≥ 0, got ${this.maxLen}`);
    if (!Number.isInteger(this.idempotencyTtlS) || this.idempotencyTtlS < 1) throw new RangeError(`idempotencyTtlS must be an integer ≥ 1, got ${this.idempotencyTtlS}`);
    if (!(this.batchMax >= 1)) throw new RangeError(`batchMax must be ≥ 1, got ${this.batchMax}`);
    if (!(this.timeoutMs >= 1)) throw new RangeError(`timeoutMs must be ≥ 1, got ${this.timeoutMs}`);
  }

  /**
   * Builds, validates and appends `events` (input objects: CloudEvents attributes, `data` any JSON
   * value) to `stream`, atomically. Throws {@link PublishValidationError} or {@link PublishLimitError}
   * before touching Redis, {@link PublishUnavailableError} when Redis does not confirm in time.
   * Resolves only once Redis has replied, i.e. every returned id is in the stream.
   */
  async publish(stream: string, events: readonly unknown[], opts: PublishOptions = {}): Promise<PublishResult> {
    if (typeof stream !== 'string' || stream.length === 0) throw new RangeError('stream must be a non-empty string');
    if (events.length === 0) return { ids: [], duplicates: 0, events: [] };
    if (events.length > this.batchMax) {
      throw new PublishLimitError(`a batch holds at most ${this.batchMax} events, got ${events.length}`, 'batch_count', this.batchMax);
    }
    const indexFields = opts.indexFields ?? events.length > 1;
    const built: StreamEvent[] = [];
    const errors: FieldError[] = [];
    const markerOf: Array<string | undefined> = [];
    const fieldsOf: string[][] = [];
    const shardOfEvent: number[] = [];
    let picker = this.pickers.get(stream);
    if (picker === undefined) this.pickers.set(stream, (picker = new ShardPicker(this.shards)));
    const ctx = opts.ctx ?? {};
    for (let i = 0; i < events.length; i++) {
      const input = events[i];
      const prefix = indexFields ? `[${i}]` : '';
      const r = buildEvent(input, ctx, prefix);
      if (!r.ok) {
        errors.push(...r.errors);
        continue;
      }
      const fields = toFields(r.value);
      // A UTF-16 code unit is at most 3 UTF-8 bytes: count bytes only when the event may be too large.
      let chars = 0;
      for (const f of fields) chars += f.length;
      let bytes = chars;
      if (chars * 3 > this.maxEventBytes) {
        bytes = 0;
        for (const f of fields) bytes += Buffer.byteLength(f, 'utf8');
      }
      if (bytes > this.maxEventBytes) {
        throw new PublishLimitError(
          `event${prefix ? ` ${prefix}` : ''} is ${bytes} bytes encoded, above the limit of ${this.maxEventBytes}`,
          'event_bytes',
          this.maxEventBytes,
          prefix || '(body)',
        );
      }
      const hasClientId = typeof (input as { id?: unknown }).id === 'string';
      const shard = picker.pick(r.value, hasClientId);
      const key = shardKey(stream, shard, this.shards);
      built.push(r.value);
      fieldsOf.push(fields);
      shardOfEvent.push(shard);
      markerOf.push(hasClientId ? idempotencyKey(key, r.value.source, r.value.id, this.keyMode) : undefined);
    }
    if (errors.length > 0) throw new PublishValidationError(errors);
    if (this.shards === 1) return this.append(stream, built, fieldsOf, markerOf, opts.timeoutMs ?? this.timeoutMs);
    // One script per shard (one slot each in a cluster), in parallel; ids put back in input order.
    const byShard = new Map<number, number[]>();
    shardOfEvent.forEach((sh, i) => {
      const list = byShard.get(sh);
      if (list) list.push(i);
      else byShard.set(sh, [i]);
    });
    const ids: string[] = new Array<string>(built.length);
    let duplicates = 0;
    await Promise.all([...byShard].map(async ([sh, idx]) => {
      const part = await this.append(shardKey(stream, sh, this.shards), idx.map((i) => built[i]!), idx.map((i) => fieldsOf[i]!), idx.map((i) => markerOf[i]), opts.timeoutMs ?? this.timeoutMs);
      idx.forEach((i, j) => (ids[i] = part.ids[j]!));
      duplicates += part.duplicates;
    }));
    return { ids, duplicates, events: built };
  }

  /** Appends validated events to one key (one script call: all-or-nothing). */
  private async append(key: string, built: StreamEvent[], fieldsOf: string[][], markerOf: Array<string | undefined>, timeoutMs: number): Promise<PublishResult> {
    const keys: string[] = [key];
    const keyIndex = new Map<string, number>();
    const argv: Array<string | number> = [this.maxLen, this.idempotencyTtlS, built.length];
    for (let i = 0; i < built.length; i++) {
      const marker = markerOf[i];
      let k = 0;
      if (marker !== undefined) {
        k = keyIndex.get(marker) ?? 0;
        if (k === 0) {
          keys.push(marker);
          k = keys.length; // 1-based index in KEYS
          keyIndex.set(marker, k);
        }
      }
      const fields = fieldsOf[i]!;
      argv.push(k, fields.length);
      for (const f of fields) argv.push(f);
    }
    const reply = await this.run(keys, argv, timeoutMs);
    const ids = reply[0].map(String);
    const dups = reply[1];
    let duplicates = 0;
    for (const d of dups) if (Number(d) === 1) duplicates += 1;
    if (ids.length !== built.length) throw new PublishUnavailableError(`unexpected reply from Redis: ${ids.length} ids for ${built.length} events`, false);
    return { ids, duplicates, events: built };
  }

  private async run(keys: string[], argv: Array<string | number>, timeoutMs: number): Promise<[string[], number[]]> {
    let timer: NodeJS.Timeout | undefined;
    const call = this.minReplicasAck > 0 ? this.evalAndWait(keys, argv, timeoutMs) : this.evalScript(keys, argv);
    call.catch(() => undefined);
    try {
      return await Promise.race([
        call,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new PublishUnavailableError(`Redis did not confirm the append within ${timeoutMs} ms`, true)), timeoutMs);
        }),
      ]);
    } catch (err) {
      if (err instanceof PublishUnavailableError) throw err; // also PublishNotReplicatedError
      throw new PublishUnavailableError(`Redis did not append: ${err instanceof Error ? err.message : String(err)}`, false);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The publish script (EVALSHA; the script is sent again when Redis does not hold it: restart, SCRIPT FLUSH). */
  private async evalScript(keys: string[], argv: Array<string | number>): Promise<[string[], number[]]> {
    return (await PUBLISH_SCRIPT.run(this.redis, keys, argv)) as [string[], number[]];
  }

  /**
   * The script and `WAIT minReplicasAck <ms>` in one pipeline: one write on one connection, so WAIT
   * counts the replicas that acknowledged this append (its timeout leaves a tenth of the deadline for
   * the replies to arrive).
   */
  private async evalAndWait(keys: string[], argv: Array<string | number>, timeoutMs: number): Promise<[string[], number[]]> {
    const p = PUBLISH_SCRIPT.pipeline(this.redis, keys, argv);
    p.wait(this.minReplicasAck, Math.max(1, Math.floor(timeoutMs * 0.9)));
    const results = (await p.exec()) ?? [];
    const [scriptErr, reply] = results[0] ?? [new Error('no reply to the publish script')];
    if (scriptErr) throw scriptErr;
    const [waitErr, replicas] = results[1] ?? [new Error('no reply to WAIT')];
    if (waitErr) throw new PublishNotReplicatedError(undefined, this.minReplicasAck);
    if (Number(replicas) < this.minReplicasAck) throw new PublishNotReplicatedError(Number(replicas), this.minReplicasAck);
    return reply as [string[], number[]];
  }

}
