/**
 * NestJS benchmark (issue 15), in this process on the harness's private redis-server, one run: the
 * same no-op handler as a `@StreamHandler` method of a Nest application context
 * (@stream-workers/nestjs: discovery, routing by type and schema version, the correlation context)
 * and given to `createWorker` directly, with the same options. Each runtime starts on an empty group
 * (`$`), then the group is rewound to the start and the whole stream timed until drained; subject and
 * peer alternate BENCH_NESTJS_REPS times (default 5) after one untimed warm-up each, one pair after
 * the other: `nestjs_vs_create_worker` is the median of the pairs' ratios (drift of the shared machine
 * hits both runs of a pair alike; goal ≥ 0.9). `nestjs_cpu_vs_create_worker` is the same ratio of this
 * process's CPU time per event (createWorker's ÷ NestJS's; Redis runs in its own process): what the
 * NestJS layer costs, much less sensitive to a loaded machine than the wall-clock throughput. A third
 * subject, the Nest app with `handlerCorrelation: false` (`nestjs_uncorrelated_*`), shows what the one
 * AsyncLocalStorage.run per event costs.
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
const REPS = Number(process.env.BENCH_NESTJS_REPS ?? 7);
const STREAM = 'bench:nestjs';
const TUNING = { batchSize: 100, concurrency: 50, blockMs: 100, groupStartId: '$' };

const noop = (_event: StreamEvent): void => undefined;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One timed drain: events/s (wall clock) and this process's CPU microseconds per event. */
interface Run {
  perS: number;
  cpuUsPerEvent: number;
}

/** Rewinds `group` to the stream's start and times it until it has read and acked every entry. */
async function timeDrain(admin: Redis, group: string): Promise<Run> {
  const t0 = monoMs();
  const cpu0 = process.cpuUsage();
  await admin.call('XGROUP', 'SETID', STREAM, group, '0', 'ENTRIESREAD', '0');
  // One entry more wakes the blocked read; it is part of the backlog timed.
  await fillStream(admin, STREAM, 1);
  const t1 = await waitGroupDrained(admin, STREAM, group, 600_000, 5);
  const cpu = process.cpuUsage(cpu0);
  const events = await admin.xlen(STREAM);
  return { perS: (events * 1000) / (t1 - t0), cpuUsPerEvent: (cpu.user + cpu.system) / events };
}

/**
 * The no-op handler as a @StreamHandler method of a Nest app, timed over the whole stream;
 * `handlerCorrelation` as the module option (false: no AsyncLocalStorage.run per event).
 */
async function runNest(ctx: BenchContext, admin: Redis, group: string, handlerCorrelation = true): Promise<Run> {
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
    imports: [StreamWorkersModule.forRoot({ redisUrl: ctx.redisUrl, consumer: `${group}-c`, handlerCorrelation, registry: new Registry(), logger: createLogger({ service: 'bench', level: 'warn' }), defaults: TUNING })],
    providers: [Handlers],
  })(BenchModule);
  const app = await NestFactory.createApplicationContext(BenchModule, { logger: false });
  try {
    return await timeDrain(admin, group);
  } finally {
    await app.close();
  }
}

/** The same handler given to createWorker; events/s over the whole stream. */
async function runWorker(ctx: BenchContext, admin: Redis, group: string): Promise<Run> {
  const worker = await createWorker(
    { redisUrl: ctx.redisUrl, stream: STREAM, group, consumer: `${group}-c`, registry: new Registry(), logger: createLogger({ service: 'bench', level: 'warn' }), ...TUNING },
    noop,
  );
  try {
    return await timeDrain(admin, group);
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
      const nest: Run[] = [];
      const plain: Run[] = [];
      const bare: Run[] = [];
      const subjects = [
        () => runNest(ctx, admin, `nest-${nest.length}`).then((r) => void nest.push(r)),
        () => runWorker(ctx, admin, `worker-${plain.length}`).then((r) => void plain.push(r)),
        () => runNest(ctx, admin, `bare-${bare.length}`, false).then((r) => void bare.push(r)),
      ];
      const fmt = (r: Run): string => `${Math.round(r.perS)} events/s ${r.cpuUsPerEvent.toFixed(1)} µs CPU/event`;
      for (let i = 0; i < REPS; i++) {
        // Rotating order, so drift on the shared machine hits every subject alike.
        for (let k = 0; k < subjects.length; k++) await subjects[(i + k) % subjects.length]!();
        ctx.progress(`run ${i + 1}/${REPS}: NestJS ${fmt(nest[i]!)}, createWorker ${fmt(plain[i]!)}, NestJS handlerCorrelation: false ${fmt(bare[i]!)}`);
      }
      ctx.figure('nestjs_events_per_s', Math.round(median(nest.map((r) => r.perS))), 'events/s');
      ctx.figure('nestjs_create_worker_events_per_s', Math.round(median(plain.map((r) => r.perS))), 'events/s');
      ctx.figure('nestjs_cpu_us_per_event', median(nest.map((r) => r.cpuUsPerEvent)), 'µs');
      ctx.figure('nestjs_create_worker_cpu_us_per_event', median(plain.map((r) => r.cpuUsPerEvent)), 'µs');
      ctx.figure('nestjs_cpu_vs_create_worker', median(nest.map((n, i) => plain[i]!.cpuUsPerEvent / n.cpuUsPerEvent)), '×');
      ctx.figure('nestjs_uncorrelated_cpu_vs_create_worker', median(bare.map((b, i) => plain[i]!.cpuUsPerEvent / b.cpuUsPerEvent)), '×');
      ctx.figure('nestjs_uncorrelated_vs_create_worker', median(bare.map((b, i) => b.perS / plain[i]!.perS)), '×');
      ctx.goal('nestjs_vs_create_worker', median(nest.map((n, i) => n.perS / plain[i]!.perS)), 'min', 0.9, '×');
    } finally {
      admin.disconnect();
    }
  },
};
