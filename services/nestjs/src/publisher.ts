import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { createPublisher, type Publisher, type PublishOptions, type PublishResult } from '@stream-workers/producer';
import { createLogger } from '@stream-workers/core';
import { STREAM_WORKERS_OPTIONS } from './constants';
import { currentCorrelation } from './correlation';
import type { StreamWorkersModuleOptions } from './options';

/** The default `source` of published events. */
export const DEFAULT_SOURCE = 'stream-workers-nestjs';

/**
 * Publishes events to a stream (injectable): validated (an invalid event rejects the call with
 * `PublishValidationError` naming the field, nothing appended), idempotent on `source` + `id` for
 * events that carry an `id`, and stamped with the correlation id of the current HTTP request
 * (`X-Correlation-Id` / `traceparent`) or of the event being handled, when the event has none.
 */
@Injectable()
export class StreamPublisher implements OnApplicationShutdown {
  private readonly publisher: Publisher;
  private readonly source: string;

  /** @param options The module's options (Redis URL, producer options, default source). */
  constructor(@Inject(STREAM_WORKERS_OPTIONS) options: StreamWorkersModuleOptions) {
    this.source = options.source ?? DEFAULT_SOURCE;
    this.publisher = createPublisher({
      ...options.publisher,
      redisUrl: options.redisUrl,
      name: 'nestjs-publisher',
      logger: options.logger ?? createLogger({ service: 'stream-workers-nestjs' }),
    });
  }

  /**
   * Appends one event (CloudEvents attributes; `data` any JSON value; `source` defaults to the
   * module's) and resolves with its entry id once Redis has it.
   */
  async publish(stream: string, event: Record<string, unknown>, options: PublishOptions = {}): Promise<{ entryId: string; duplicate: boolean; id: string; correlationId: string }> {
    const r = await this.publishBatch(stream, [event], { indexFields: false, ...options });
    return { entryId: r.ids[0]!, duplicate: r.duplicates === 1, id: r.events[0]!.id, correlationId: r.events[0]!.correlationid };
  }

  /** Appends events all-or-nothing (one script); see {@link StreamPublisher.publish}. */
  publishBatch(stream: string, events: readonly Record<string, unknown>[], options: PublishOptions = {}): Promise<PublishResult> {
    const withSource = events.map((e) => (e !== null && typeof e === 'object' && e.source === undefined ? { ...e, source: this.source } : e));
    const c = currentCorrelation();
    const ctx = c ? { ...c, ...options.ctx } : options.ctx;
    return this.publisher.producer.publish(stream, withSource, { ...options, ...(ctx ? { ctx } : {}) });
  }

  /** Closes the connection (after the workers drained: handlers may publish while draining). */
  onApplicationShutdown(): Promise<void> {
    return this.publisher.close();
  }
}
