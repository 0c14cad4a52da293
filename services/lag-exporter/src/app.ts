import type { Express, Request, Response, NextFunction } from 'express';
import type { Registry } from 'prom-client';
import { HttpProblem, OpsServer, globToRegExp, redisReadiness, readShardedBacklog, shardKey, type Logger, type BacklogResult, type RedisConnection } from '@stream-workers/core';
import { LagCollector } from './collector';

/** Options for {@link LagExporter}. */
export interface LagExporterOptions {
  /** A `command` connection (core `createRedis`); the caller owns it and closes it after {@link LagExporter.close}. */
  redis: RedisConnection;
  registry: Registry;
  logger: Logger;
  /** HTTP port; 0 picks a free one (tests). */
  port: number;
  /** Interface to bind; default all. */
  host?: string;
  /** Stream names or Redis glob patterns; also bound what `/api/v1/backlog` answers for. */
  streams: string[];
  /** Only these groups; default (or empty) all. */
  groups?: string[];
  /** Deadline of one scrape's (or one backlog request's) Redis reads in ms; default 5000. */
  scrapeTimeoutMs?: number;
  /** Reuse of names matched by glob patterns in ms; default 30000; 0 = SCAN at every scrape. */
  discoveryIntervalMs?: number;
  /** Most entries counted per group whose lag Redis does not give; default 100. */
  countLimit?: number;
  /** `STREAM_SHARDS`: N > 1 exports the pool totals of sharded streams, and `/api/v1/backlog?stream=S` answers S's total. */
  shards?: number;
}

/** The JSON answer of `GET /api/v1/backlog` (KEDA's metrics-api scaler reads `outstanding`). */
export interface BacklogResponse {
  stream: string;
  group: string;
  outstanding: number;
  lag: number;
  pending: number;
  lagSeconds: number;
  oldestPendingSeconds: number;
  consumers: number;
  lagEstimated: boolean;
  streamLength: number;
}

/** Kept here for the exporter's callers and tests: the one implementation is core's (lag-discovery.ts). */
export { globToRegExp };

function param(req: Request, name: string): string {
  const v = req.query[name];
  if (typeof v !== 'string' || v.length === 0) {
    throw new HttpProblem({ title: 'Bad Request', status: 400, detail: `query parameter "${name}" is required, once, non-empty`, parameter: name });
  }
  return v;
}

/**
 * The lag exporter: the ops server (`/livez`, `/readyz`, `/metrics` read from Redis at scrape time by
 * {@link LagCollector}) plus `GET /api/v1/backlog?stream=S&group=G` for KEDA's metrics-api scaler.
 */
export class LagExporter {
  readonly collector: LagCollector;
  readonly ops: OpsServer;
  private readonly streamFilters: RegExp[];
  private readonly groupFilter: Set<string> | undefined;
  private readonly timeoutMs: number;
  private draining = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: LagExporterOptions) {
    this.timeoutMs = opts.scrapeTimeoutMs ?? 5000;
    this.streamFilters = opts.streams.map(globToRegExp);
    this.groupFilter = opts.groups && opts.groups.length > 0 ? new Set(opts.groups) : undefined;
    this.collector = new LagCollector({
      redis: opts.redis,
      registry: opts.registry,
      logger: opts.logger,
      streams: opts.streams,
      ...(opts.groups ? { groups: opts.groups } : {}),
      scrapeTimeoutMs: this.timeoutMs,
      ...(opts.discoveryIntervalMs !== undefined ? { discoveryIntervalMs: opts.discoveryIntervalMs } : {}),
      ...(opts.countLimit !== undefined ? { countLimit: opts.countLimit } : {}),
      shards: opts.shards ?? 1,
    });
    this.ops = new OpsServer({
      port: opts.port,
      ...(opts.host ? { host: opts.host } : {}),
      registry: opts.registry,
      logger: opts.logger,
      readiness: redisReadiness(opts.redis, () => this.draining),
      routes: (app) => this.routes(app),
    });
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return this.ops.listen();
  }

  /** Stops scraping Redis, then the HTTP server (in-flight requests finish). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.draining = true;
      this.collector.close();
      await this.ops.close();
    })();
    return this.closing;
  }

  private routes(app: Express): void {
    app.get('/api/v1/backlog', (req: Request, res: Response, next: NextFunction) => {
      this.backlog(req)
        .then((body) => {
          res.setHeader('Cache-Control', 'no-store');
          res.json(body);
        })
        .catch(next);
    });
  }

  private async backlog(req: Request): Promise<BacklogResponse> {
    const stream = param(req, 'stream');
    const group = param(req, 'group');
    // A sharded stream is exported when its shard keys are.
    const shards = this.opts.shards ?? 1;
    const exported = (name: string): boolean => this.streamFilters.some((re) => re.test(name));
    if (!exported(stream) && !(shards > 1 && exported(shardKey(stream, 0, shards)))) {
      throw new HttpProblem({ title: 'Not Found', status: 404, detail: `stream "${stream}" is not exported (STREAMS=${this.opts.streams.join(',')})`, stream });
    }
    if (this.groupFilter && !this.groupFilter.has(group)) {
      throw new HttpProblem({ title: 'Not Found', status: 404, detail: `group "${group}" is not exported (GROUPS=${[...this.groupFilter].join(',')})`, group });
    }
    if (this.draining) throw new HttpProblem({ title: 'Service Unavailable', status: 503, detail: 'the exporter is shutting down' });
    let result: BacklogResult;
    let timer: NodeJS.Timeout | undefined;
    try {
      const read = readShardedBacklog(this.opts.redis, stream, group, shards, undefined, this.opts.countLimit);
      read.catch(() => undefined);
      result = await Promise.race([
        read,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer from Redis within ${this.timeoutMs} ms`)), this.timeoutMs);
        }),
      ]);
    } catch (err) {
      throw new HttpProblem(
        { title: 'Service Unavailable', status: 503, detail: `cannot read the backlog: ${err instanceof Error ? err.message : String(err)}` },
        { 'Retry-After': '5' },
      );
    } finally {
      clearTimeout(timer);
    }
    if (result.status === 'no-stream') throw new HttpProblem({ title: 'Not Found', status: 404, detail: `stream "${stream}" does not exist`, stream });
    if (result.status === 'no-group') {
      throw new HttpProblem({ title: 'Not Found', status: 404, detail: `stream "${stream}" has no consumer group "${group}" (it holds ${result.streamLength} entries)`, stream, group });
    }
    const b = result.backlog;
    return {
      stream,
      group,
      outstanding: b.outstanding,
      lag: b.lag,
      pending: b.pending,
      lagSeconds: b.lagSeconds,
      oldestPendingSeconds: b.oldestPendingSeconds,
      consumers: b.consumers,
      lagEstimated: b.lagEstimated,
      streamLength: b.streamLength,
    };
  }
}
