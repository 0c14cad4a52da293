import { Global, Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import Redis from 'ioredis';
import { StreamWorkersModule } from '@stream-workers/nestjs';
import { StreamWorkersHealthIndicator } from '@stream-workers/nestjs/terminus';
import { Registry } from 'prom-client';
import type { ExampleConfig } from './config';
import { CONFIG, REDIS } from './tokens';
import { OpsController, METRICS_REGISTRY } from './ops.controller';

class RedisCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit();
  }
}

/**
 * What the three services share: the config, a Redis connection for the handlers' records, the
 * stream-workers module (options from a factory: forRootAsync), /health (terminus) and /metrics.
 */
@Global()
@Module({})
export class SharedModule {
  static forRoot(cfg: ExampleConfig, workerOptions: { maxDeliveries?: number; retryDelayMs?: number; concurrency?: number } = {}): DynamicModule {
    const registry = new Registry();
    return {
      module: SharedModule,
      imports: [
        TerminusModule,
        StreamWorkersModule.forRootAsync({
          inject: [CONFIG],
          useFactory: (c: ExampleConfig) => ({
            redisUrl: c.redisUrl,
            consumer: c.consumer,
            source: `nestjs-orders/${c.role}`,
            registry,
            defaults: { blockMs: 500, ...workerOptions },
          }),
        }),
      ],
      controllers: [OpsController],
      providers: [
        { provide: CONFIG, useValue: cfg },
        { provide: METRICS_REGISTRY, useValue: registry },
        { provide: REDIS, useFactory: () => new Redis(cfg.redisUrl, { maxRetriesPerRequest: 1 }) },
        RedisCloser,
        StreamWorkersHealthIndicator,
      ],
      exports: [CONFIG, REDIS],
    };
  }
}
