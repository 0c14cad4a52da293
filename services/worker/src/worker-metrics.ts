import { Counter, Gauge, type Registry } from 'prom-client';
import { HotCounter, HotHistogram } from '@stream-workers/core';

/** The worker's metrics (docs/design.md, "Metrics"); the per-event ones are hot-path implementations. */
export interface WorkerMetrics {
  ok: { inc(by?: number): void };
  retry: { inc(by?: number): void };
  deadLetter: { inc(by?: number): void };
  okSeconds: { observe(v: number): void };
  retrySeconds: { observe(v: number): void };
  deadLetterSeconds: { observe(v: number): void };
  claimed: Counter;
  lost: Counter;
}

/** What the gauges read at scrape time. */
export interface WorkerGaugeSources {
  running(): number;
  held(): number;
  redisOk(): boolean;
}

/** Registers the worker's metrics in `r` (throws when it holds them already). */
export function createWorkerMetrics(r: Registry, src: WorkerGaugeSources): WorkerMetrics {
  // The two per-event metrics are hot-path implementations (no label hashing per event); they render
  // like prom-client's Counter and Histogram.
  const processed = new HotCounter({
    name: 'stream_workers_events_processed_total',
    help: 'Deliveries handled, by outcome: ok (acked), retry (failed, will be redelivered), dead_letter (moved to the dead-letter stream)',
    labelName: 'outcome',
    labelValues: ['ok', 'retry', 'dead_letter'] as const,
    registers: [r],
  });
  const seconds = new HotHistogram({
    name: 'stream_workers_event_processing_seconds',
    help: 'Handler run time per delivery, by outcome',
    labelName: 'outcome',
    labelValues: ['ok', 'retry', 'dead_letter'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [r],
  });
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [r],
      collect() {
        this.set(read());
      },
    });
  };
  gauge('stream_workers_inflight_events', 'Handlers running now', src.running);
  gauge('stream_workers_worker_held_entries', 'Entries this worker holds: running, read and queued, or waiting for a retry', src.held);
  gauge('stream_workers_worker_redis_up', '1 while the worker reads from Redis without errors', () => (src.redisOk() ? 1 : 0));
  return {
    ok: processed.child('ok'),
    retry: processed.child('retry'),
    deadLetter: processed.child('dead_letter'),
    okSeconds: seconds.child('ok'),
    retrySeconds: seconds.child('retry'),
    deadLetterSeconds: seconds.child('dead_letter'),
    claimed: new Counter({ name: 'stream_workers_events_claimed_total', help: 'Entries reclaimed from other consumers (XAUTOCLAIM) after CLAIM_IDLE_MS', registers: [r] }),
    lost: new Counter({
      name: 'stream_workers_worker_ownership_lost_total',
      help: 'Entries another consumer reclaimed while this worker still held them (it was out of touch with Redis for longer than CLAIM_IDLE_MS)',
      registers: [r],
    }),
  };
}
