import type Redis from 'ioredis';
import express, { type Express, type Request, type Response, type NextFunction } from 'express';
import { Counter, Histogram, type Registry } from 'prom-client';
import {
  HttpProblem,
  OpsServer,
  PublishLimitError,
  PublishUnavailableError,
  PublishValidationError,
  StreamProducer,
  isRedisReady,
  isTraceparent,
  newCorrelationId,
  traceIdOf,
  type Logger,
  type Problem,
} from '@stream-workers/core';
import openapi from './openapi.json';

/** Options for {@link ProducerApp}. Defaults match the environment defaults of config.ts. */
export interface ProducerAppOptions {
  /** A `command` connection (core `createRedis`); the caller owns it and closes it after {@link ProducerApp.close}. */
  redis: Redis;
  registry: Registry;
  logger: Logger;
  /** HTTP port; 0 picks a free one (tests). */
  port: number;
  /** Interface to bind; default all. */
  host?: string;
  /** Streams clients may append to; any other name answers 404. */
  streams: string[];
  /** Largest body of a single-event request and largest encoded event of a batch, in bytes; default 262144. */
  maxEventBytes?: number;
  /** Largest body of a batch request in bytes; default 4194304. */
  maxBatchBytes?: number;
  /** `MAXLEN ~` of every append; 0 = never trim; default 1000000. */
  maxLen?: number;
  /** Lifetime of idempotency markers in s; default 86400. */
  idempotencyTtlS?: number;
  /** Most events per batch request; default 1000. */
  batchMax?: number;
  /** Deadline of Redis' confirmation in ms; default 2000. */
  publishTimeoutMs?: number;
}

/** Reasons of `stream_workers_publish_rejected_total` (one count per rejected request). */
export type RejectReason = 'invalid' | 'too_large' | 'unsupported_media_type' | 'unknown_stream' | 'unavailable' | 'timeout';

const SINGLE_TYPES = new Set(['application/cloudevents+json', 'application/json']);
const BATCH_TYPE = 'application/cloudevents-batch+json';
const CORRELATION_ID = /^[\x21-\x7e]{1,256}$/;
const ROUTE = '/v1/streams/:stream/events';

/**
 * The producer's HTTP API on the ops server: `POST /v1/streams/:stream/events` (one event or a batch,
 * appended atomically by {@link StreamProducer}), `GET /openapi.json`, plus `/livez`, `/readyz`,
 * `/metrics`. A 202 is sent only after Redis confirmed the append, so no answered event is missing.
 */
export class ProducerApp {
  readonly ops: OpsServer;
  readonly producer: StreamProducer;
  private readonly streams: Set<string>;
  private readonly maxEventBytes: number;
  private readonly maxBatchBytes: number;
  private readonly published: Counter<'stream'>;
  private readonly rejected: Counter<'reason'>;
  private readonly duration: Histogram<'method' | 'route' | 'status'>;
  private readonly singleParser: express.RequestHandler;
  private readonly batchParser: express.RequestHandler;
  private draining = false;
  /** Responses of API requests not yet finished, so {@link close} can end their keep-alive. */
  private redisFailing = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: ProducerAppOptions) {
    this.streams = new Set(opts.streams);
    this.maxEventBytes = opts.maxEventBytes ?? 262_144;
    this.maxBatchBytes = opts.maxBatchBytes ?? 4 * 1024 * 1024;
    this.producer = new StreamProducer({
      redis: opts.redis,
      maxLen: opts.maxLen ?? 1_000_000,
      idempotencyTtlS: opts.idempotencyTtlS ?? 86_400,
      maxEventBytes: this.maxEventBytes,
      batchMax: opts.batchMax ?? 1000,
      timeoutMs: opts.publishTimeoutMs ?? 2000,
    });
    // Bodies are read as bytes and parsed here, so that every failure maps to our own problem.
    this.singleParser = express.raw({ type: () => true, limit: this.maxEventBytes });
    this.batchParser = express.raw({ type: () => true, limit: this.maxBatchBytes });
    this.published = new Counter({
      name: 'stream_workers_events_published_total',
      help: 'Events appended to a stream by this producer (duplicates of an earlier append not counted)',
      labelNames: ['stream'],
      registers: [opts.registry],
    });
    this.rejected = new Counter({
      name: 'stream_workers_publish_rejected_total',
      help: 'Publish requests answered with an error, by reason',
      labelNames: ['reason'],
      registers: [opts.registry],
    });
    this.duration = new Histogram({
      name: 'stream_workers_http_request_duration_seconds',
      help: 'Duration of HTTP API requests, from the first byte read to the answer sent',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [opts.registry],
    });
    this.ops = new OpsServer({
      port: opts.port,
      ...(opts.host ? { host: opts.host } : {}),
      registry: opts.registry,
      logger: opts.logger,
      readiness: () => {
        if (this.draining) return { ready: false, reason: 'shutting down' };
        if (!isRedisReady(opts.redis)) return { ready: false, reason: 'redis unreachable' };
        return { ready: true };
      },
      routes: (app) => this.routes(app),
    });
  }

  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number> {
    return this.ops.listen();
  }

  /**
   * Stops accepting requests (new ones on open connections answer 503) and waits for in-flight ones
   * (the ops server ends their keep-alive connections as they answer). Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.draining = true;
      await this.ops.close();
    })();
    return this.closing;
  }

  private routes(app: Express): void {
    app.use(ROUTE, (req: Request, res: Response, next: NextFunction) => {
      const end = this.duration.startTimer({ method: req.method, route: ROUTE });
      res.once('finish', () => end({ status: String(res.statusCode) }));
      next();
    });
    app.get('/openapi.json', (_req, res) => {
      res.json(openapi);
    });
    app.post(ROUTE, (req: Request, res: Response, next: NextFunction) => {
      this.handle(req, res).catch(next);
    });
  }

  private reject(reason: RejectReason, problem: Problem, headers: Record<string, string> = {}): HttpProblem {
    this.rejected.inc({ reason });
    return new HttpProblem({ type: 'about:blank', ...problem }, headers);
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const correlationId = correlationOf(req);
    res.setHeader('X-Correlation-Id', correlationId);
    const stream = String(req.params.stream ?? '');
    if (this.draining) {
      throw this.reject('unavailable', { title: 'Service Unavailable', status: 503, detail: 'the producer is shutting down' }, { 'Retry-After': '1' });
    }
    if (!this.streams.has(stream)) {
      throw this.reject('unknown_stream', { title: 'Not Found', status: 404, detail: `stream "${stream}" is not open for publishing (STREAMS=${[...this.streams].join(',')})`, stream });
    }
    const [mediaType, charset] = parseContentType(req.headers['content-type']);
    const isBatch = mediaType === BATCH_TYPE;
    if (!isBatch && !SINGLE_TYPES.has(mediaType)) {
      throw this.reject('unsupported_media_type', {
        title: 'Unsupported Media Type',
        status: 415,
        detail: `content type "${mediaType || '(none)'}" is not accepted; send application/cloudevents+json or application/json (one event) or ${BATCH_TYPE} (a JSON array)`,
      });
    }
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      throw this.reject('unsupported_media_type', { title: 'Unsupported Media Type', status: 415, detail: `charset "${charset}" is not accepted; send UTF-8` });
    }
    const limit = isBatch ? this.maxBatchBytes : this.maxEventBytes;
    const body = await this.readBody(req, res, isBatch ? this.batchParser : this.singleParser, limit);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (err) {
      throw this.reject('invalid', { title: 'Invalid JSON', status: 400, detail: `request body is not valid JSON: ${(err as Error).message}`, errors: [{ field: '(body)', message: 'is not valid JSON' }] });
    }
    let events: unknown[];
    if (isBatch) {
      if (!Array.isArray(parsed)) {
        throw this.reject('invalid', { title: 'Bad Request', status: 400, detail: 'a batch must be a JSON array of events', errors: [{ field: '(body)', message: 'must be a JSON array of events' }] });
      }
      if (parsed.length === 0) {
        throw this.reject('invalid', { title: 'Bad Request', status: 400, detail: 'a batch must hold at least one event', errors: [{ field: '(body)', message: 'must hold at least one event' }] });
      }
      events = parsed;
    } else {
      if (Array.isArray(parsed)) {
        throw this.reject('invalid', {
          title: 'Bad Request',
          status: 400,
          detail: `a JSON array is a batch: send it as ${BATCH_TYPE} (${mediaType} carries one event)`,
          errors: [{ field: '(body)', message: `must be one event object; send arrays as ${BATCH_TYPE}` }],
        });
      }
      events = [parsed];
    }
    if (!isRedisReady(this.opts.redis)) {
      this.noteRedis(false, correlationId, 'redis unreachable');
      throw this.reject('unavailable', { title: 'Service Unavailable', status: 503, detail: 'Redis is unreachable; nothing was appended' }, { 'Retry-After': '1' });
    }
    const traceparent = typeof req.headers.traceparent === 'string' && isTraceparent(req.headers.traceparent) ? req.headers.traceparent : undefined;
    let result;
    try {
      result = await this.producer.publish(stream, events, {
        ctx: { correlationId, ...(traceparent ? { traceparent } : {}) },
        indexFields: isBatch,
      });
    } catch (err) {
      if (err instanceof PublishValidationError) {
        throw this.reject('invalid', { title: 'Bad Request', status: 400, detail: err.message, errors: err.errors });
      }
      if (err instanceof PublishLimitError) {
        throw this.reject('too_large', {
          title: 'Payload Too Large',
          status: 413,
          detail: err.message,
          limit: err.limit === 'batch_count' ? 'BATCH_MAX' : 'MAX_EVENT_BYTES',
          max: err.max,
          ...(err.field ? { errors: [{ field: err.field, message: err.message }] } : {}),
        });
      }
      if (err instanceof PublishUnavailableError) {
        this.noteRedis(false, correlationId, err.message);
        throw this.reject(err.timedOut ? 'timeout' : 'unavailable', { title: 'Service Unavailable', status: 503, detail: `${err.message}; resend with the same event ids (idempotent)` }, { 'Retry-After': '1' });
      }
      throw err;
    }
    this.noteRedis(true, correlationId, '');
    const appended = result.ids.length - result.duplicates;
    if (appended > 0) this.published.inc({ stream }, appended);
    res.status(202).json({ ids: result.ids, duplicates: result.duplicates });
  }

  /** Reads the body with `parser` (raw bytes, bounded); a body over `limit` is a 413 naming the limit. */
  private readBody(req: Request, res: Response, parser: express.RequestHandler, limit: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      parser(req, res, (err?: unknown) => {
        if (err) {
          const e = err as { type?: string; message?: string };
          if (e.type === 'entity.too.large') {
            reject(this.reject('too_large', {
              title: 'Payload Too Large',
              status: 413,
              detail: `request body exceeds the limit of ${limit} bytes`,
              limit: limit === this.maxEventBytes ? 'MAX_EVENT_BYTES' : 'MAX_BATCH_BYTES',
              max: limit,
            }, { Connection: 'close' }));
            return;
          }
          reject(this.reject('invalid', { title: 'Bad Request', status: 400, detail: `cannot read the request body: ${e.message ?? String(err)}` }));
          return;
        }
        resolve(Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
      });
    });
  }

  /** Logs Redis publishing going bad and coming back, once per change. */
  private noteRedis(ok: boolean, correlationId: string, reason: string): void {
    if (ok && this.redisFailing) {
      this.redisFailing = false;
      this.opts.logger.info('publishing to Redis works again');
    } else if (!ok && !this.redisFailing) {
      this.redisFailing = true;
      this.opts.logger.warn({ correlationid: correlationId, reason }, 'publishing to Redis fails; answering 503 until it works again');
    }
  }
}

/** The request's correlation id: `X-Correlation-Id`, else the trace id of `traceparent`, else a new one. */
function correlationOf(req: Request): string {
  const h = req.headers['x-correlation-id'];
  if (typeof h === 'string' && CORRELATION_ID.test(h)) return h;
  const tp = req.headers.traceparent;
  if (typeof tp === 'string' && isTraceparent(tp)) return traceIdOf(tp);
  return newCorrelationId();
}

/** `[media type (lower case), charset (lower case) or undefined]`. */
function parseContentType(header: string | undefined): [string, string | undefined] {
  if (!header) return ['', undefined];
  const [type, ...params] = header.split(';');
  let charset: string | undefined;
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k?.trim().toLowerCase() === 'charset' && v) charset = v.trim().replace(/^"|"$/g, '').toLowerCase();
  }
  return [type!.trim().toLowerCase(), charset];
}
