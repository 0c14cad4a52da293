/**
 * NestJS benchmark (issue 15), in this process on the harness's private redis-server, one run: the
 * same no-op handler as a `@StreamHandler` method of a Nest application context
 * (@stream-workers/nestjs: discovery, routing by type and schema version, the correlation context)
 * and given to `createWorker` directly, with the same options. Each runtime starts on an empty group
 * (`$`), then the group is rewound to the start and the whole stream timed until drained; subject and
 * peer alternate BENCH_NESTJS_REPS times (default 5) after one untimed warm-up each, one pair after
 * the other: `nestjs_vs_create_worker` is the median of the pairs' ratios (drift of the shared machine
 * hits both runs of a pair alike; goal ≥ 0.9).
 */
import 'reflect-metadata';
import Redis from 'ioredis';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Registry } from 'prom-client';
import { createLogger, type StreamEvent } from '@stream-workers/core';
import { createWorker } from '@stream-workers/worker';
import { StreamHandler, StreamWorkersModule } from '@stream-workers/nestjs';
import type { Benchmark, BenchContext } from './harness';
import { fillStream, monoMs, waitGroupDrained } from './bench-support';

/** Entries per timed run (BENCH_NESTJS_EVENTS overrides, for quick runs). */
const EVENTS = Number(process.env.BENCH_NESTJS_EVENTS ?? 100_000);
const REPS = Number(process.env.BENCH_NESTJS_REPS ?? 5);
const STREAM = 'bench:nestjs';
const TUNING = { batchSize: 100, concurrency: 50, blockMs: 100, groupStartId: '$' };

const noop = (_event: StreamEvent): void => undefined;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Rewinds `group` to the stream's start and returns the time until it has read and acked every entry. */
async function timeDrain(admin: Redis, group: string): Promise<number> {
  const t0 = monoMs();
  await admin.call('XGROUP', 'SETID', STREAM, group, '0', 'ENTRIESREAD', '0');
  // One entry more wakes the blocked read; it is part of the backlog timed.
  await fillStream(admin, STREAM, 1);
  const t1 = await waitGroupDrained(admin, STREAM, group, 600_000, 5);
  return t1 - t0;
}

/** The no-op handler as a @StreamHandler method of a Nest app; events/s over the whole stream. */
async function runNest(ctx: BenchContext, admin: Redis, group: string): Promise<number> {
  class Handlers {
    handle(event: StreamEvent): void {
      noop(event);
    }
  }
  // Decorators applied as functions: the group name is chosen per run.
  StreamHandler({ stream: STREAM, group })(Handlers.prototype, 'handle', Object.getOwnPropertyDescriptor(Handlers.prototype, 'handle')!);
  Injectable()(Handlers);
  class BenchModule {}
  Module({
    imports: [StreamWorkersModule.forRoot({ redisUrl: ctx.redisUrl, consumer: `${group}-c`, registry: new Registry(), logger: createLogger({ service: 'bench', level: 'warn' }), defaults: TUNING })],
    providers: [Handlers],
  })(BenchModule);
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  try {
    const ms = await timeDrain(admin, group);
    return ((await admin.xlen(STREAM)) * 1000) / ms;
  } finally {
    await app.close();
  }
}

/** The same handler given to createWorker; events/s over the whole stream. */
async function runWorker(ctx: BenchContext, admin: Redis, group: string): Promise<number> {
  const worker = await createWorker(
    { redisUrl: ctx.redisUrl, stream: STREAM, group, consumer: `${group}-c`, registry: new Registry(), logger: createLogger({ service: 'bench', level: 'warn' }), ...TUNING },
    noop,
  );
  try {
    const ms = await timeDrain(admin, group);
    return ((await admin.xlen(STREAM)) * 1000) / ms;
  } finally {
    await worker.close();
  }
}

export const nestjsHandler: Benchmark = {
  name: 'nestjs',
  description: `no-op handler as a NestJS @StreamHandler vs the same handler on createWorker, ${EVENTS} events, medians of ${REPS} alternating runs`,
  async run(ctx: BenchContext) {
    const admin = new Redis(ctx.redisUrl);
    try {
      await fillStream(admin, STREAM, EVENTS);
      // Untimed warm-up of both (JIT, Nest's module loading).
      await runNest(ctx, admin, 'nest-warm');
      await runWorker(ctx, admin, 'worker-warm');
      const nest: number[] = [];
      const plain: number[] = [];
      for (let i = 0; i < REPS; i++) {
        // Alternating order, so drift on the shared machine hits both alike.
        if (i % 2 === 0) {
          nest.push(await runNest(ctx, admin, `nest-${i}`));
          plain.push(await runWorker(ctx, admin, `worker-${i}`));
        } else {
          plain.push(await runWorker(ctx, admin, `worker-${i}`));
          nest.push(await runNest(ctx, admin, `nest-${i}`));
        }
        ctx.progress(`run ${i + 1}/${REPS}: NestJS ${Math.round(nest[i]!)} events/s, createWorker ${Math.round(plain[i]!)} events/s`);
      }
      ctx.figure('nestjs_events_per_s', Math.round(median(nest)), 'events/s');
      ctx.figure('nestjs_create_worker_events_per_s', Math.round(median(plain)), 'events/s');
      ctx.goal('nestjs_vs_create_worker', median(nest.map((n, i) => n / plain[i]!)), 'min', 0.9, '×');
    } finally {
      admin.disconnect();
    }
  },
};
