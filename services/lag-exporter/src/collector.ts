import type { Registry } from 'prom-client';
import {
  DEFAULT_COUNT_LIMIT,
  discoverStreams,
  errorFields,
  groupBySlot,
  isClusterClient,
  readAllBacklogs,
  readAllBacklogsOver,
  type Logger,
  type StreamBacklogs,
  type RedisConnection,
} from '@stream-workers/core';
import { RespConnection, respOptionsOf } from './resp-connection';
import { SeriesText, ScrapeText, type RenderedScrape } from './text-cache';
import { registerScrapeGauges } from './prom-adapter';

export { escapeLabelValue, formatSampleValue } from './text-cache';

/** Options for {@link LagCollector}. */
export interface LagCollectorOptions {
  /** A `command` connection (core `createRedis`). */
  redis: RedisConnection;
  /** The registry the metrics are registered in (never the global one). */
  registry: Registry;
  logger: Logger;
  /** Stream names or Redis glob patterns (`*`, `orders:*`). */
  streams: string[];
  /** Only these groups (exact names); default (or empty) all. */
  groups?: string[];
  /** Deadline of one scrape's Redis work in ms; default 5000. */
  scrapeTimeoutMs?: number;
  /**
   * How long the names matched by glob patterns are reused before the next `SCAN`, in ms; default
   * 30000; 0 = every scrape. Plain names are read at every scrape; values are always read at scrape time.
   */
  discoveryIntervalMs?: number;
  /** Most entries counted per group whose lag Redis does not give; default 100 (core `DEFAULT_COUNT_LIMIT`). */
  countLimit?: number;
  /** Clock in ms (tests); default `Date.now`. */
  now?: () => number;
  /**
   * How a scrape reads Redis. `resp` (default): plain commands (core `readAllBacklogsOver`) on a
   * connection of its own to the server of `redis` ({@link RespConnection}: the cheapest to decode);
   * where that connection cannot follow `redis` (Sentinel, Cluster), `auto`. `auto` and `commands`:
   * core `readAllBacklogs` on `redis` itself (`auto`: Lua scripts, plain commands where refused).
   */
  mode?: 'resp' | 'auto' | 'commands';
  /** `STREAM_SHARDS`: with N > 1 the pool's totals of each sharded stream are exported too (shard-totals.ts). */
  shards?: number;
}

/** What one scrape read. */
export type ScrapeOutcome =
  | { ok: true; streams: StreamBacklogs[]; durationSeconds: number }
  | { ok: false; error: string; durationSeconds: number };

const GLOB = /[*?[\]\\]/;

/**
 * The exporter's metrics, read from Redis in prom-client `collect()` at scrape time: no background
 * loop, no cache of values. One scrape is one read of every stream and group (core
 * `readAllBacklogsOver` on the collector's own {@link RespConnection}: two pipelined rounds per 16
 * streams) under a deadline, its series written as text while Redis reads the next streams; the
 * collect() calls of one scrape, and of scrapes that overlap it, share that read, so every series of a
 * scrape comes from the same moment. When the read fails or times out the scrape shows
 * `exporter_up 0` and no stream or group series (never stale ones), and the connection is dropped.
 */
export class LagCollector {
  private readonly timeoutMs: number;
  private readonly discoveryIntervalMs: number;
  private readonly countLimit: number;
  private readonly now: () => number;
  private readonly literals: string[];
  private readonly patterns: string[];
  private discovered: { names: string[]; atMs: number } | undefined;
  private inflight: Promise<ScrapeOutcome> | undefined;
  private failing = false;
  private readonly text = new SeriesText();
  private readonly renderings = new WeakMap<ScrapeOutcome, RenderedScrape>();
  private closed = false;
  /** The scrape's own connection (`resp` mode). */
  private readonly resp: RespConnection | undefined;
  /** The last scrape's outcome (tests, logs). */
  last: ScrapeOutcome | undefined;

  constructor(private readonly opts: LagCollectorOptions) {
    this.timeoutMs = opts.scrapeTimeoutMs ?? 5000;
    this.discoveryIntervalMs = opts.discoveryIntervalMs ?? 30_000;
    this.countLimit = opts.countLimit ?? DEFAULT_COUNT_LIMIT;
    this.now = opts.now ?? Date.now;
    this.literals = opts.streams.filter((s) => !GLOB.test(s));
    this.patterns = opts.streams.filter((s) => GLOB.test(s));
    // A cluster client: no own RESP connection (the streams sit on several nodes); reads go through the
    // client, which routes each slot's keys to its node and follows MOVED/ASK.
    const respOptions = (opts.mode ?? 'resp') === 'resp' && !isClusterClient(opts.redis) ? respOptionsOf(opts.redis, `${connectionName(opts.redis) ?? 'lag-exporter'}:scrape`) : undefined;
    this.resp = respOptions && new RespConnection(respOptions);
    registerScrapeGauges(opts.registry, () => this.scrape(), (o) => this.rendered(o), opts.shards ?? 1);
  }

  /** The stream and group series of a scrape as text (rendered while it was read). */
  private rendered(o: ScrapeOutcome & { ok: true }): RenderedScrape {
    let r = this.renderings.get(o);
    if (!r) {
      const t = new ScrapeText(this.text);
      t.add(o.streams);
      r = t.finish();
      this.renderings.set(o, r);
    }
    return r;
  }

  /**
   * Reads every stream and group now, or joins the read already in flight (the collect() calls of
   * one scrape start within the same tick, so they share one read). Never rejects.
   */
  scrape(): Promise<ScrapeOutcome> {
    if (this.closed) return Promise.resolve({ ok: false, error: 'exporter is shutting down', durationSeconds: 0 });
    if (!this.inflight) {
      this.text.rotate();
      const p = this.readWithDeadline();
      this.inflight = p;
      void p.finally(() => {
        if (this.inflight === p) this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  /** Stops answering scrapes with Redis reads (they report `exporter_up 0`) and closes the scrape's own connection. Idempotent. */
  close(): void {
    this.closed = true;
    this.resp?.close();
  }

  private async readWithDeadline(): Promise<ScrapeOutcome> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`scrape timed out after ${this.timeoutMs} ms (SCRAPE_TIMEOUT_MS)`)), this.timeoutMs);
      timer.unref();
    });
    const read = this.read();
    read.catch(() => undefined); // a read abandoned by the deadline may still fail later
    let outcome: ScrapeOutcome;
    try {
      const { streams, text } = await Promise.race([read, deadline]);
      outcome = { ok: true, streams, durationSeconds: (performance.now() - started) / 1000 };
      this.renderings.set(outcome, text.finish());
    } catch (err) {
      outcome = { ok: false, error: err instanceof Error ? err.message : String(err), durationSeconds: (performance.now() - started) / 1000 };
      // A connection that let a read run out of time is not trusted with the next one.
      this.resp?.reset(outcome.error);
      if (!this.failing) this.opts.logger.warn({ ...errorFields(err) }, 'scrape failed: exporting exporter_up 0 without stream or group series until Redis answers');
    } finally {
      clearTimeout(timer);
    }
    if (outcome.ok && this.failing) this.opts.logger.info({ streams: outcome.streams.length }, 'scrape succeeded again');
    this.failing = !outcome.ok;
    this.last = outcome;
    return outcome;
  }

  private async read(): Promise<{ streams: StreamBacklogs[]; text: ScrapeText }> {
    const names = new Set(this.literals);
    if (this.patterns.length > 0) {
      const now = this.now();
      if (!this.discovered || this.discoveryIntervalMs === 0 || now - this.discovered.atMs >= this.discoveryIntervalMs) {
        const found = await discoverStreams(this.opts.redis, this.patterns);
        if (this.discovered && found.length !== this.discovered.names.length) {
          this.opts.logger.info({ streams: found.length, before: this.discovered.names.length }, 'discovered streams changed');
        }
        this.discovered = { names: found, atMs: now };
      }
      for (const n of this.discovered.names) names.add(n);
    }
    const groups = this.opts.groups && this.opts.groups.length > 0 ? this.opts.groups : undefined;
    const text = new ScrapeText(this.text);
    const options = {
      ...(groups ? { groups } : {}),
      countLimit: this.countLimit,
      ...(this.opts.now ? { nowMs: this.opts.now() } : {}),
      onStreams: (part: StreamBacklogs[]) => text.add(part),
    };
    const sorted = [...names].sort();
    const viaClient = { ...options, ...(this.opts.mode === 'commands' ? { mode: 'commands' as const } : {}) };
    let streams: StreamBacklogs[];
    if (this.resp) streams = await readAllBacklogsOver(this.resp, sorted, options);
    else if (!isClusterClient(this.opts.redis)) streams = await readAllBacklogs(this.opts.redis, sorted, viaClient);
    else {
      // Redis Cluster: one read per slot (a script or pipeline must not cross slots), in parallel, each
      // on the slot's node; each stream is read once, where it lives.
      const parts = await Promise.all(groupBySlot(sorted, true).map((keys) => readAllBacklogs(this.opts.redis, keys, viaClient)));
      streams = parts.flat().sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
    }
    return { streams, text };
  }
}

/** CLIENT SETNAME of a command connection (a Cluster's is in its node options). */
function connectionName(redis: RedisConnection): string | undefined {
  const o = redis.options as { connectionName?: string; redisOptions?: { connectionName?: string } };
  return o.redisOptions?.connectionName ?? o.connectionName;
}
