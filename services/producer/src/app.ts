import type { Express, Request, Response, NextFunction } from 'express';
import type { Registry } from 'prom-client';
import {
  HttpProblem,
  OpsServer,
  PublishLimitError,
  PublishNotReplicatedError,
  PublishUnavailableError,
  PublishValidationError,
  StreamProducer,
  type KeyMode,
  EVENT_SCHEMA,
  binaryFieldName,
  isRedisReady,
  redisReadiness,
  isTraceparent,
  newCorrelationId,
  traceIdOf,
  type Logger,
  type Problem,
  type PublishResult,
  type RedisConnection,
} from '@stream-workers/core';
import { NoAuthenticator, RateLimiter, Unauthorized, type Authenticator, type Principal } from './auth';
import { ProducerMetrics, type RejectReason } from './metrics';
import { EventReader, RequestRejected, type RequestEvents } from './read-events';
import openapi from './openapi.json';

export type { RejectReason } from './metrics';

/** Options for {@link ProducerApp}. Defaults match the environment defaults of config.ts. */
export interface ProducerAppOptions {
  /** A `command` connection (core `createRedis`); the caller owns it and closes it after {@link ProducerApp.close}. */
  redis: RedisConnection;
  /** The producer's metrics are registered here. */
  registry: Registry;
  /** Requests and errors are logged here. */
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
  /** Shards of every stream (STREAM_SHARDS): events go to `S{i}` by partition key; default 1. */
  streamShards?: number;
  /** Key naming (`{ cluster: true }` in Redis Cluster); default one server. */
  keyMode?: KeyMode;
  /** Deadline of Redis' confirmation in ms; default 2000. */
  publishTimeoutMs?: number;
  /** Replicas that must confirm each append (WAIT) before 2xx; default 0. The connection must not re-send after a reconnect (see core StreamProducer). */
  minReplicasAck?: number;
  /** Who may publish (AUTH_MODE); default none. The app closes it in {@link ProducerApp.close}. */
  authenticator?: Authenticator;
  /** Requests per second per client (RATE_LIMIT_PER_S); 0 or absent = no limit. */
  rateLimitPerS?: number;
}

const CORRELATION_ID = /^[\x21-\x7e]{1,256}$/;
const ROUTE = '/v1/streams/:stream/events';
const RETRY = { 'Retry-After': '1' };

/**
 * The producer's HTTP API on the ops server: `POST /v1/streams/:stream/events` (one event in binary or
 * structured mode, or a batch, appended atomically by {@link StreamProducer}), `GET /openapi.json` and
 * `GET /schemas/event.json`, plus `/livez`, `/readyz`, `/metrics` (never authenticated). A 202 is sent
 * only after Redis confirmed the append, so no answered event is missing.
 */
export class ProducerApp {
  /** The HTTP server (API and ops routes). */
  readonly ops: OpsServer;
  /** The publishing library it appends with. */
  readonly producer: StreamProducer;
  private readonly streams: Set<string>;
  private readonly metrics: ProducerMetrics;
  private readonly reader: EventReader;
  private readonly auth: Authenticator;
  private readonly limiter: RateLimiter | undefined;
  private draining = false;
  private redisFailing = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: ProducerAppOptions) {
    this.streams = new Set(opts.streams);
    const maxEventBytes = opts.maxEventBytes ?? 262_144;
    this.producer = new StreamProducer({
      redis: opts.redis,
      maxLen: opts.maxLen ?? 1_000_000,
      idempotencyTtlS: opts.idempotencyTtlS ?? 86_400,
      maxEventBytes,
      batchMax: opts.batchMax ?? 1000,
      timeoutMs: opts.publishTimeoutMs ?? 2000,
      shards: opts.streamShards ?? 1,
      ...(opts.keyMode ? { keyMode: opts.keyMode } : {}),
      minReplicasAck: opts.minReplicasAck ?? 0,
    });
    this.reader = new EventReader(maxEventBytes, opts.maxBatchBytes ?? 4 * 1024 * 1024);
    this.metrics = new ProducerMetrics(opts.registry);
    this.auth = opts.authenticator ?? new NoAuthenticator();
    this.limiter = opts.rateLimitPerS ? new RateLimiter(opts.rateLimitPerS) : undefined;
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

  /**
   * Stops accepting requests (new ones on open connections answer 503) and waits for in-flight ones
   * (the ops server ends their keep-alive connections as they answer). Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.draining = true;
      this.auth.close();
      await this.ops.close();
    })();
    return this.closing;
  }

  private routes(app: Express): void {
    app.use(ROUTE, (req: Request, res: Response, next: NextFunction) => {
      const end = this.metrics.duration.startTimer({ method: req.method, route: ROUTE });
      res.once('finish', () => end({ status: String(res.statusCode) }));
      next();
    });
    app.get('/openapi.json', (_req, res) => {
      res.json(openapi);
    });
    app.get('/schemas/event.json', (_req, res) => {
      res.json(EVENT_SCHEMA);
    });
    app.post(ROUTE, (req: Request, res: Response, next: NextFunction) => {
      this.handle(req, res).catch(next);
    });
  }

  private reject(reason: RejectReason, problem: Problem, headers: Record<string, string> = {}): HttpProblem {
    this.metrics.rejected.inc({ reason });
    return new HttpProblem({ type: 'about:blank', ...problem }, headers);
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const correlationId = correlationOf(req);
    res.setHeader('X-Correlation-Id', correlationId);
    const stream = String(req.params.stream ?? '');
    if (this.draining) throw this.reject('unavailable', { title: 'Service Unavailable', status: 503, detail: 'the producer is shutting down' }, RETRY);
    await this.admit(req, stream);
    let read: RequestEvents;
    try {
      read = await this.reader.read(req, res);
    } catch (err) {
      if (err instanceof RequestRejected) throw this.reject(err.reason, err.problem, err.headers);
      throw err;
    }
    if (!isRedisReady(this.opts.redis)) {
      this.noteRedis(false, correlationId, 'redis unreachable');
      throw this.reject('unavailable', { title: 'Service Unavailable', status: 503, detail: 'Redis is unreachable; nothing was appended' }, RETRY);
    }
    const result = await this.publish(stream, read, correlationId, req.headers.traceparent);
    this.noteRedis(true, correlationId, '');
    const appended = result.ids.length - result.duplicates;
    if (appended > 0) this.metrics.published.inc({ stream }, appended);
    res.status(202).json({ ids: result.ids, duplicates: result.duplicates });
  }

  /** Authentication (401), the stream (404), authorization (403) and the client's rate (429), in that order. */
  private async admit(req: Request, stream: string): Promise<Principal> {
    let who: Principal;
    try {
      who = await this.auth.authenticate(req.headers, req.socket.remoteAddress);
    } catch (err) {
      if (!(err instanceof Unauthorized)) throw err;
      const challenge = `Bearer realm="stream-workers"${err.code ? `, error="${err.code}"` : ''}`;
      throw this.reject('unauthorized', { title: 'Unauthorized', status: 401, detail: err.message }, { 'WWW-Authenticate': challenge });
    }
    if (!this.streams.has(stream)) {
      throw this.reject('unknown_stream', { title: 'Not Found', status: 404, detail: `stream "${stream}" is not open for publishing (STREAMS=${[...this.streams].join(',')})`, stream });
    }
    if (!who.mayWrite(stream)) {
      throw this.reject('forbidden', { title: 'Forbidden', status: 403, detail: `client ${who.client} may not write to stream "${stream}"`, stream });
    }
    const wait = this.limiter?.take(who.client) ?? 0;
    if (wait > 0) {
      throw this.reject('rate_limited', { title: 'Too Many Requests', status: 429, detail: `client ${who.client} sends more than RATE_LIMIT_PER_S=${this.limiter!.ratePerS} requests per second` }, { 'Retry-After': String(Math.max(1, Math.ceil(wait))) });
    }
    return who;
  }

  /** Appends the request's events; publish errors become their problems (400, 413, 503). */
  private async publish(stream: string, read: RequestEvents, correlationId: string, traceHeader: string | string[] | undefined): Promise<PublishResult> {
    const traceparent = typeof traceHeader === 'string' && isTraceparent(traceHeader) ? traceHeader : undefined;
    try {
      return await this.producer.publish(stream, read.events, { ctx: { correlationId, ...(traceparent ? { traceparent } : {}) }, indexFields: read.isBatch });
    } catch (err) {
      if (err instanceof PublishValidationError) {
        const errors = read.binary ? err.errors.map((e) => ({ ...e, field: binaryFieldName(e.field) })) : err.errors;
        throw this.reject('invalid', { title: 'Bad Request', status: 400, detail: err.message, errors });
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
        throw this.reject(err instanceof PublishNotReplicatedError ? 'not_replicated' : err.timedOut ? 'timeout' : 'unavailable', { title: 'Service Unavailable', status: 503, detail: `${err.message}; resend with the same event ids (idempotent)` }, RETRY);
      }
      throw err;
    }
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
