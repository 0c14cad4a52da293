import { Counter, Histogram, type Registry } from 'prom-client';

/** Reasons of `stream_workers_publish_rejected_total` (one count per rejected request). */
export type RejectReason =
  | 'invalid'
  | 'too_large'
  | 'unsupported_media_type'
  | 'unknown_stream'
  | 'unavailable'
  | 'not_replicated'
  | 'timeout'
  | 'unauthorized'
  | 'forbidden'
  | 'rate_limited';

/** The producer's own metrics (docs/design.md, "Metrics"). */
export class ProducerMetrics {
  readonly published: Counter<'stream'>;
  readonly rejected: Counter<'reason'>;
  readonly duration: Histogram<'method' | 'route' | 'status'>;

  constructor(registry: Registry) {
    this.published = new Counter({
      name: 'stream_workers_events_published_total',
      help: 'Events appended to a stream by this producer (duplicates of an earlier append not counted)',
      labelNames: ['stream'],
      registers: [registry],
    });
    this.rejected = new Counter({
      name: 'stream_workers_publish_rejected_total',
      help: 'Publish requests answered with an error, by reason',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'stream_workers_http_request_duration_seconds',
      help: 'Duration of HTTP API requests, from the first byte read to the answer sent',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
  }
}
