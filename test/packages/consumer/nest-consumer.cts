// A NestJS consumer of the packed @stream-workers/nestjs (CommonJS, strict TypeScript, decorators).
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Registry } from 'prom-client';
import { StreamHandler, StreamPublisher, StreamWorkersModule, type StreamEvent } from '@stream-workers/nestjs';

const redisUrl = process.env.REDIS_URL!;
const stream = process.env.STREAM!;
const n = Number(process.env.EVENTS);
const seen = { v1: new Set<number>(), v2: new Set<number>() };
let done!: () => void;
const all = new Promise<void>((r) => (done = r));

@Injectable()
class Handlers {
  @StreamHandler({ stream, group: 'nest', type: 'demo.created', schemaVersion: '1' })
  v1(event: StreamEvent): void {
    seen.v1.add((event.data as { i: number }).i);
    if (seen.v1.size + seen.v2.size === n) done();
  }

  @StreamHandler({ stream, group: 'nest', type: 'demo.created', schemaVersion: '2' })
  async v2(event: StreamEvent): Promise<void> {
    seen.v2.add((event.data as { i: number }).i);
    if (seen.v1.size + seen.v2.size === n) done();
  }
}

const registry = new Registry();

@Module({ imports: [StreamWorkersModule.forRoot({ redisUrl, consumer: 'nest-1', registry })], providers: [Handlers] })
class AppModule {}

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const publisher = app.get(StreamPublisher);
  for (let i = 0; i < n; i++) await publisher.publish(stream, { id: `nest-${i}`, type: 'demo.created', schemaversion: i % 2 ? '2' : '1', data: { i } });
  await all;
  const metrics = await registry.metrics();
  await app.close();
  process.stdout.write(JSON.stringify({ consumer: 'nest', v1: seen.v1.size, v2: seen.v2.size, metrics: /stream_workers_events_processed_total\{outcome="ok",stream="[^"]+",group="nest"\}/.test(metrics) }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(String(err instanceof Error ? err.stack : err) + '\n');
  process.exitCode = 1;
});
