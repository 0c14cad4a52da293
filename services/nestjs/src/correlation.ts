import { AsyncLocalStorage } from 'node:async_hooks';
import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { isTraceparent } from '@stream-workers/core';

/** The correlation of the work running now: an HTTP request, or a stream event being handled. */
export interface CorrelationContext {
  /** Correlation id carried by events published now. */
  correlationId?: string;
  /** W3C traceparent carried by events published now. */
  traceparent?: string;
}

const storage = new AsyncLocalStorage<CorrelationContext>();

/** The correlation of the current request or handled event; undefined outside of both. */
export function currentCorrelation(): CorrelationContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `ctx` as the current correlation (what {@link StreamPublisher} stamps on events). */
export function runWithCorrelation<T>(ctx: CorrelationContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

const CORRELATION_ID = /^[\x21-\x7e]{1,256}$/;

function header(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const v = (headers as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The correlation of an HTTP request: `X-Correlation-Id` when it is a printable token, and
 * `traceparent` when valid (whose trace id is the correlation id when there is no `X-Correlation-Id`).
 */
export function correlationOfHeaders(headers: unknown): CorrelationContext {
  const out: CorrelationContext = {};
  const id = header(headers, 'x-correlation-id');
  const tp = header(headers, 'traceparent');
  if (tp !== undefined && isTraceparent(tp)) out.traceparent = tp;
  if (id !== undefined && CORRELATION_ID.test(id)) out.correlationId = id;
  return out;
}

/**
 * Global interceptor (registered by the module): an HTTP request's handler, and everything it
 * awaits, runs with the request's correlation, so events published there carry it.
 */
@Injectable()
export class CorrelationInterceptor implements NestInterceptor {
  /** Runs the route handler inside the request's correlation. */
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<{ headers?: unknown }>();
    const ctx = correlationOfHeaders(req?.headers);
    return new Observable((subscriber) => storage.run(ctx, () => next.handle().subscribe(subscriber)));
  }
}
