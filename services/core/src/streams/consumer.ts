import { Cluster } from 'ioredis';
import type { RedisConnection } from '../redis';
import { reconnectDelay } from '../redis';
import { RespClient } from '../resp-client';
import { RespReplyError, type Decoder } from '../resp-decode';
import { respOptionsFor, respOptionsFromUrl } from '../resp-options';
import type { RedisSettings } from '../redis-settings';
import { entriesDecoder, type RawEntry } from './entries-decoder';

export type { RawEntry } from './entries-decoder';

/** Options of {@link StreamConsumer}. */
export interface StreamConsumerOptions {
  /** Where and how to connect, any topology (in a Cluster: the primary owning the stream's slot). Set this or `url`. */
  settings?: RedisSettings;
  /** One server: `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. Set this or `settings`. */
  url?: string;
  /** The stream read. */
  stream: string;
  /** The consumer group read in. */
  group: string;
  /** Consumer name (the pod name on Kubernetes). */
  consumer: string;
  /** XREADGROUP BLOCK for new entries, in ms. */
  blockMs: number;
  /**
   * A read whose reply has not begun or stopped arriving this many ms after BLOCK ran out counts as
   * wedged (a connection that died without telling: a cut network, a blackholing proxy): the
   * connection is dropped and the read fails; the next read connects anew. Default 5000.
   */
  wedgeMarginMs?: number;
  /** Timeout of a connect attempt (TCP, TLS and the hello commands) in ms; default 5000. */
  connectTimeoutMs?: number;
  /** CLIENT SETNAME of the connection (visible in `CLIENT LIST`). */
  name?: string;
}

/** Thrown by {@link StreamConsumer.read} when a read got no reply in time; the connection was reset. */
export class WedgedReadError extends Error {
  constructor(ms: number) {
    super(`XREADGROUP got no reply within ${ms} ms; connection reset`);
    this.name = 'WedgedReadError';
  }
}

/** An error reply of Redis on the read connection (`NOGROUP …`, `NOPERM …`, `WRONGPASS …`). */
export { RespReplyError as RedisReplyError } from '../resp-decode';

/** True for a Redis `NOGROUP` error: the stream or the consumer group does not exist (any more). */
export function isNoGroupError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOGROUP');
}

/**
 * Creates the consumer group (with MKSTREAM) at `startId` (`0`: the whole stream, `$`: only new
 * entries). Resolves true when it created the group, false when it already existed.
 */
export async function createGroup(redis: RedisConnection, stream: string, group: string, startId: string): Promise<boolean> {
  try {
    await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
    return true;
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('BUSYGROUP')) return false;
    throw err;
  }
}

/**
 * The read side of a group consumer, on a connection of its own (core {@link RespClient}): XREADGROUP
 * replies are decoded straight from the socket's bytes into strings, the hottest path of a worker
 * (the `protocol` benchmark in docs/benchmarks.md compares it with ioredis in the same run). Reads this
 * consumer's own pending entries (from a cursor, no BLOCK) or new entries (`>`, with BLOCK); every
 * read is guarded against a connection that stopped answering.
 *
 * At-least-once without double reads: nothing is ever re-sent. Any error or close fails the reads in
 * flight and drops the connection; the next read connects anew (AUTH, SELECT, CLIENT SETNAME from the
 * URL). An XREADGROUP whose reply was lost may have delivered entries, which the caller finds again in
 * its pending list (the worker reads from `0` after a failed read).
 */
export class StreamConsumer {
  private readonly client: RespClient;
  private readonly decode: Decoder;
  /** Bytes per entry of the last reply that had entries (0: none yet). */
  private entryBytes = 0;
  private readonly wedgeMs: number;
  private readonly marginMs: number;

  constructor(private readonly o: StreamConsumerOptions) {
    this.marginMs = o.wedgeMarginMs ?? 5000;
    this.wedgeMs = o.blockMs + this.marginMs;
    const entries = entriesDecoder();
    // Sizes are noted as each reply is decoded (reads in flight resolve later, after more replies may have come).
    this.decode = (c) => {
      const start = c.o;
      const r = entries(c);
      if (Array.isArray(r) && r.length > 0) this.entryBytes = (c.o - start) / r.length;
      return r;
    };
    if ((o.settings === undefined) === (o.url === undefined)) throw new TypeError('StreamConsumer: set one of the options settings and url');
    this.client = new RespClient({
      ...(o.settings ? respOptionsFor(o.settings, { key: o.stream }) : respOptionsFromUrl(o.url!)),
      ...(o.name ? { name: o.name } : {}),
      connectTimeoutMs: o.connectTimeoutMs ?? 5000,
      clientId: true,
      // A failed attempt right before: wait a little (the caller's loop backs off too; this keeps a
      // tight caller from hammering a server that refuses connections).
      retryDelayMs: (failures) => reconnectDelay(failures, 1000),
    });
  }

  /** Bytes per entry (RESP framing included) of the last reply that had entries; 0 before any (the worker asks for fewer large entries per read). */
  get bytesPerEntry(): number {
    return this.entryBytes;
  }

  /** True while a connection is established. */
  get connected(): boolean {
    return this.client.connected;
  }

  /**
   * Reads up to `count` entries: with `pendingFrom` set, this consumer's own pending entries after that
   * id (`0` for all; each read counts a delivery); else new entries, blocking up to `blockMs` unless
   * `block` is false (reads ahead while a backlog lasts). An empty array means nothing (more) to read.
   * Rejects on a Redis error reply (e.g. NOGROUP), a connection failure, or no reply in time
   * ({@link WedgedReadError}).
   */
  async read(count: number, pendingFrom?: string, block = true): Promise<RawEntry[]> {
    const args: (string | number)[] = ['XREADGROUP', 'GROUP', this.o.group, this.o.consumer, 'COUNT', count];
    if (pendingFrom === undefined && block) args.push('BLOCK', this.o.blockMs);
    args.push('STREAMS', this.o.stream, pendingFrom ?? '>');
    await this.client.ensureConnected(); // the connect has its own deadline
    const sent = this.client.send([args], [this.decode]);
    const replies = await this.guard(sent);
    const reply = replies[0];
    if (reply instanceof RespReplyError) throw reply;
    return reply as RawEntry[];
  }

  /**
   * Fails the read when no byte of its reply came within blockMs + margin, or bytes stopped coming for
   * the margin (a large reply still arriving is not wedged).
   */
  private async guard<T>(p: Promise<T>): Promise<T> {
    const sentAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const check = (due: number): void => {
      timer = setTimeout(() => {
        const last = this.client.lastDataAt;
        if (last > sentAt && last + this.marginMs > Date.now()) check(last + this.marginMs);
        else this.client.reset(new WedgedReadError(this.wedgeMs));
      }, Math.max(0, due - Date.now()));
    };
    check(sentAt + this.wedgeMs);
    try {
      return await p;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ends a read blocked right now (CLIENT UNBLOCK, sent on `via`, another connection): the read returns
   * empty, as if BLOCK ran out, so nothing it might have returned is lost. Never throws.
   */
  async unblock(via: RedisConnection): Promise<void> {
    const id = this.client.clientId;
    if (id === undefined || via.status !== 'ready') return;
    // CLIENT ids are per server: in a Cluster, only the node the read is on may be asked.
    const node = via instanceof Cluster ? via.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === this.client.where) : via;
    await node?.client('UNBLOCK', id).catch(() => undefined);
  }

  /** Closes the connection; reads in flight fail. Idempotent. */
  close(): void {
    this.client.close('stream consumer closed');
  }
}
