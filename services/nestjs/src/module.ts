import { Global, Module, type DynamicModule, type Provider } from '@nestjs/common';
import { APP_INTERCEPTOR, DiscoveryModule } from '@nestjs/core';
import { STREAM_WORKERS_OPTIONS } from './constants';
import { CorrelationInterceptor } from './correlation';
import type { StreamWorkersModuleAsyncOptions, StreamWorkersModuleOptions } from './options';
import { StreamPublisher } from './publisher';
import { StreamWorkersRuntime } from './runtime';

const REDIS_URL = /^rediss?:\/\/\S+$/;

/** Checks the options at the edge: a clear error naming what is wrong, before anything connects. */
export function checkModuleOptions(options: unknown): StreamWorkersModuleOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`StreamWorkersModule: options must be an object, got ${options === null ? 'null' : typeof options}`);
  const o = options as Record<string, unknown>;
  if (typeof o.redisUrl !== 'string' || !REDIS_URL.test(o.redisUrl)) {
    throw new TypeError(`StreamWorkersModule: option redisUrl must be a redis:// or rediss:// URL, got ${typeof o.redisUrl === 'string' ? JSON.stringify(o.redisUrl) : typeof o.redisUrl}`);
  }
  if (o.consumer !== undefined && (typeof o.consumer !== 'string' || !/^[\x21-\x7e]{1,200}$/.test(o.consumer))) {
    throw new TypeError(`StreamWorkersModule: option consumer must be a printable name without spaces, got ${JSON.stringify(o.consumer)}`);
  }
  if (o.groups !== undefined && !Array.isArray(o.groups)) throw new TypeError('StreamWorkersModule: option groups must be an array of { stream, group, ...worker options }');
  return options as StreamWorkersModuleOptions;
}

const PROVIDERS: Provider[] = [StreamWorkersRuntime, StreamPublisher, { provide: APP_INTERCEPTOR, useClass: CorrelationInterceptor }];
const EXPORTS = [StreamWorkersRuntime, StreamPublisher, STREAM_WORKERS_OPTIONS];

/**
 * Redis Streams workers for a Nest app (global module). `@StreamHandler` methods are found at
 * bootstrap; each (stream, group) runs one worker (batched reads, concurrency, retries, dead letters,
 * reclaim, drain); `StreamPublisher` publishes. Call `app.enableShutdownHooks()` so SIGTERM drains.
 */
@Global()
@Module({})
export class StreamWorkersModule {
  /** The module with options given now (checked here: a bad option throws naming it). */
  static forRoot(options: StreamWorkersModuleOptions): DynamicModule {
    const checked = checkModuleOptions(options);
    return {
      module: StreamWorkersModule,
      imports: [DiscoveryModule],
      providers: [{ provide: STREAM_WORKERS_OPTIONS, useValue: checked }, ...PROVIDERS],
      exports: EXPORTS,
    };
  }

  /** The module with options from a factory (e.g. `ConfigService`), checked when it resolves. */
  static forRootAsync(options: StreamWorkersModuleAsyncOptions): DynamicModule {
    return {
      module: StreamWorkersModule,
      imports: [DiscoveryModule, ...(options.imports ?? [])],
      providers: [
        {
          provide: STREAM_WORKERS_OPTIONS,
          // useFactory's parameters are the injected providers, typed by the caller.
          useFactory: async (...args: never[]) => checkModuleOptions(await options.useFactory(...args)),
          inject: options.inject ?? [],
        },
        ...PROVIDERS,
      ],
      exports: EXPORTS,
    };
  }
}
