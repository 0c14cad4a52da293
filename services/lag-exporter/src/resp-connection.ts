/**
 * The scrape's own Redis connection: core's {@link RespClient} (the project's one hand-written RESP
 * connection, shared with the worker's reads) with the decoders of the few commands a scrape sends
 * (core `readAllBacklogsOver`). A scrape of many streams is thousands of reply values, and decoding
 * them is most of what it costs the exporter: the fields of stream entries (`XRANGE`, `XINFO STREAM`'s
 * first and last entry) are stepped over without being decoded, only their ids are used, and the
 * values of `XINFO STREAM` core does not read are left null.
 *
 * The connection is made on the first `send` (and again after a failure); any error or close fails
 * the commands in flight; nothing is re-sent. The caller bounds each read with its own deadline and
 * calls {@link RespConnection.reset} when it gives up on one.
 */
import {
  RespClient,
  RespReplyError,
  genericReply,
  respOptionsOf,
  type BacklogCommand,
  type BacklogReply,
  type BacklogTransport,
  type Decoder,
  type RespClientOptions,
} from '@stream-workers/core';

export { respOptionsOf, RespReplyError };
/** Where and how to connect (core {@link RespClientOptions}). */
export type RespConnectionOptions = RespClientOptions;

/** A stream entry `[id, fields]` as `[id, null]`: the fields are stepped over, never decoded. */
const entry: Decoder = (c) => {
  if (c.b[c.o] !== 42) return genericReply(c);
  c.o++;
  const n = c.int();
  if (n < 1) return n < 0 ? null : [];
  const id = genericReply(c);
  for (let i = 1; i < n; i++) c.skip();
  return [id, null];
};

/** `XRANGE` / `XREVRANGE`: a list of entries, fields skipped. */
const entries: Decoder = (c) => {
  if (c.b[c.o] !== 42) return genericReply(c);
  c.o++;
  const n = c.int();
  if (n < 0) return null;
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = entry(c);
  return out;
};

/** The values of `XINFO STREAM` that core's `parseStreamInfo` reads; the others are stepped over (null). */
const STREAM_INFO_USED = new Set(['length', 'entries-added', 'first-entry', 'last-entry']);

/** `XINFO STREAM`: the flat key/value list, first/last entry as {@link entry}, unused values null. */
const streamInfo: Decoder = (c) => {
  if (c.b[c.o] !== 42) return genericReply(c);
  c.o++;
  const n = c.int();
  if (n < 0) return null;
  const out = new Array<unknown>(n);
  for (let i = 0; i + 1 < n; i += 2) {
    const k = genericReply(c);
    out[i] = k;
    if (k === 'first-entry' || k === 'last-entry') out[i + 1] = entry(c);
    else if (typeof k === 'string' && STREAM_INFO_USED.has(k)) out[i + 1] = genericReply(c);
    else {
      c.skip();
      out[i + 1] = null;
    }
  }
  if (n % 2 === 1) out[n - 1] = genericReply(c);
  return out;
};

/** `EXEC`: each queued command's reply decoded as that command's would be. */
function execOf(decoders: Decoder[]): Decoder {
  return (c) => {
    if (c.b[c.o] !== 42) return genericReply(c);
    c.o++;
    const n = c.int();
    if (n < 0) return null;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = (n === decoders.length ? decoders[i]! : genericReply)(c);
    return out;
  };
}

/** The decoder of each command of a pipeline (commands between MULTI and EXEC reply QUEUED; EXEC brings their replies). */
function decodersFor(commands: BacklogCommand[]): Decoder[] {
  const out: Decoder[] = [];
  let queued: Decoder[] | undefined;
  for (const cmd of commands) {
    const name = String(cmd[0]).toUpperCase();
    let d: Decoder = genericReply;
    if (name === 'XRANGE' || name === 'XREVRANGE') d = entries;
    else if (name === 'XINFO' && String(cmd[1]).toUpperCase() === 'STREAM') d = streamInfo;
    if (name === 'MULTI') {
      queued = [];
      out.push(genericReply);
    } else if (name === 'EXEC' || name === 'DISCARD') {
      out.push(name === 'EXEC' && queued ? execOf(queued) : genericReply);
      queued = undefined;
    } else if (queued) {
      queued.push(d);
      out.push(genericReply); // +QUEUED (or an error reply)
    } else out.push(d);
  }
  return out;
}

/** A Redis connection for a scrape's reads; a core {@link BacklogTransport}. */
export class RespConnection implements BacklogTransport {
  multiRefused?: boolean;
  private readonly client: RespClient;

  constructor(o: RespConnectionOptions) {
    this.client = new RespClient(o);
  }

  /** True while a connection is established. */
  get connected(): boolean {
    return this.client.connected;
  }

  /**
   * Sends the commands pipelined (one write) and resolves with their replies once all are in
   * (`[error, undefined]` for an error reply). Rejects when the connection fails or closes first.
   */
  async send(commands: BacklogCommand[]): Promise<BacklogReply[]> {
    const replies = await this.client.send(commands, decodersFor(commands));
    return replies.map((v): BacklogReply => (v instanceof Error ? [v, undefined] : [null, v]));
  }

  /** Holds the sends that follow (on the current connection) until {@link uncork}: one write for all. */
  cork(): void {
    this.client.cork();
  }

  uncork(): void {
    this.client.uncork();
  }

  /** Drops the connection (the commands in flight fail with `reason`); the next `send` connects again. */
  reset(reason: string): void {
    this.client.reset(reason);
  }

  /** Closes the connection for good; commands in flight fail. Idempotent. */
  close(): void {
    this.client.close();
  }
}
