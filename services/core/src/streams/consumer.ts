import type Redis from 'ioredis';

/** One entry as Redis returns it; `fields` is null when the entry was deleted from the stream while pending. */
export type RawEntry = [id: string, fields: string[] | null];

/** Options of {@link StreamConsumer}. */
export interface StreamConsumerOptions {
  stream: string;
  group: string;
  /** Consumer name (the pod name on Kubernetes). */
  consumer: string;
  /** XREADGROUP BLOCK for new entries, in ms. */
  blockMs: number;
  /**
   * A read with no reply this many ms after BLOCK ran out counts as wedged (a connection that died
   * without telling: a cut network, a blackholing proxy): the connection is dropped and reconnected,
   * and the read fails. Default 5000.
   */
  wedgeMarginMs?: number;
}

/**
 * Field names seen in replies, interned: a stream repeats the same few names in every entry, so
 * decoding them by a byte compare against known names saves a string allocation and a UTF-8 decode
 * per field. Bounded: names beyond the first 64 distinct ones are decoded normally.
 */
class FieldNames {
  private readonly byLength = new Map<number, Array<[Buffer, string]>>();
  private size = 0;

  decode(buf: Buffer): string {
    const candidates = this.byLength.get(buf.length);
    if (candidates) {
      outer: for (const [known, name] of candidates) {
        for (let i = 0; i < known.length; i++) if (known[i] !== buf[i]) continue outer;
        return name;
      }
    }
    const name = buf.toString();
    if (this.size < 64 && buf.length <= 64) {
      this.size += 1;
      if (candidates) candidates.push([Buffer.from(buf), name]);
      else this.byLength.set(buf.length, [[Buffer.from(buf), name]]);
    }
    return name;
  }
}

/** Thrown by {@link StreamConsumer.read} when a read got no reply in time; the connection was reset. */
export class WedgedReadError extends Error {
  constructor(ms: number) {
    super(`XREADGROUP got no reply within ${ms} ms; connection reset`);
    this.name = 'WedgedReadError';
  }
}

/** True for a Redis `NOGROUP` error: the stream or the consumer group does not exist (any more). */
export function isNoGroupError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('NOGROUP');
}

/**
 * Creates the consumer group (with MKSTREAM) at `startId` (`0`: the whole stream, `$`: only new
 * entries). Resolves true when it created the group, false when it already existed.
 */
export async function createGroup(redis: Redis, stream: string, group: string, startId: string): Promise<boolean> {
  try {
    await redis.xgroup('CREATE', stream, group, startId, 'MKSTREAM');
    return true;
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('BUSYGROUP')) return false;
    throw err;
  }
}

/**
 * The read side of a group consumer, on a connection of its own (XREADGROUP BLOCK must never share a
 * connection with other commands). Reads this consumer's own pending entries (from a cursor, no BLOCK)
 * or new entries (`>`, with BLOCK); every read is guarded against a connection that stopped answering.
 */
export class StreamConsumer {
  private clientId: number | undefined;
  private readonly wedgeMs: number;
  private readonly names = new FieldNames();
  private readonly onReady = (): void => {
    this.redis.client('ID').then(
      (id) => (this.clientId = Number(id)),
      () => (this.clientId = undefined),
    );
  };

  constructor(
    private readonly redis: Redis,
    private readonly o: StreamConsumerOptions,
  ) {
    this.wedgeMs = o.blockMs + (o.wedgeMarginMs ?? 5000);
    redis.on('ready', this.onReady);
    if (redis.status === 'ready') this.onReady();
  }

  /**
   * Reads up to `count` entries: with `pendingFrom` set, this consumer's own pending entries after that
   * id (`0` for all; each read counts a delivery); else new entries, blocking up to `blockMs` unless
   * `block` is false (reads ahead while a backlog lasts). An empty array means nothing (more) to read.
   */
  async read(count: number, pendingFrom?: string, block = true): Promise<RawEntry[]> {
    const args: (string | number)[] = ['GROUP', this.o.group, this.o.consumer, 'COUNT', count];
    if (pendingFrom === undefined && block) args.push('BLOCK', this.o.blockMs);
    args.push('STREAMS', this.o.stream, pendingFrom ?? '>');
    let timer: NodeJS.Timeout | undefined;
    const wedged = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.redis.disconnect(true);
        reject(new WedgedReadError(this.wedgeMs));
      }, this.wedgeMs);
    });
    try {
      // The reply as Buffers (ioredis would otherwise copy every string twice), decoded here. ioredis types
      // XREADGROUP only loosely; the shape is Redis's: [[stream, [[id, fields | null], ...]]] or null.
      const reply = (await Promise.race([this.redis.callBuffer('XREADGROUP', ...args), wedged])) as [Buffer, [Buffer, Buffer[] | null][]][] | null;
      const raw = reply?.[0]?.[1];
      if (!raw) return [];
      const out = new Array<RawEntry>(raw.length);
      for (let e = 0; e < raw.length; e++) {
        const [id, fields] = raw[e]!;
        let decoded: string[] | null = null;
        if (fields) {
          decoded = new Array<string>(fields.length);
          for (let i = 0; i + 1 < fields.length; i += 2) {
            decoded[i] = this.names.decode(fields[i]!);
            decoded[i + 1] = fields[i + 1]!.toString();
          }
        }
        out[e] = [id.toString('latin1'), decoded];
      }
      return out;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Ends a read blocked right now (CLIENT UNBLOCK, sent on `via`, another connection): the read returns
   * empty, as if BLOCK ran out, so nothing it might have returned is lost. Never throws.
   */
  async unblock(via: Redis): Promise<void> {
    if (this.clientId === undefined || via.status !== 'ready') return;
    await via.client('UNBLOCK', this.clientId).catch(() => undefined);
  }

  /** Stops listening to the connection (it is closed by its owner). */
  detach(): void {
    this.redis.off('ready', this.onReady);
  }
}
