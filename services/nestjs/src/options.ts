import type { ModuleMetadata, InjectionToken, OptionalFactoryDependency } from '@nestjs/common';
import type { Logger, StreamProducerOptions } from '@stream-workers/core';
import type { WorkerOptions } from '@stream-workers/worker';
import type { Registry } from 'prom-client';

/** The worker options a (stream, group) may tune; every one has the default of `createWorker`. */
export type WorkerTuning = Omit<WorkerOptions, 'redisUrl' | 'stream' | 'group' | 'consumer' | 'logger' | 'registry'>;

/** Tuning of one (stream, group) runtime, over {@link StreamWorkersModuleOptions.defaults}. */
export interface GroupTuning extends WorkerTuning {
  /** The stream of the runtime tuned. */
  stream: string;
  /** The consumer group of the runtime tuned. */
  group: string;
}

/** Options of {@link StreamWorkersModule.forRoot}. */
export interface StreamWorkersModuleOptions {
  /** `redis://…` or `rediss://…`: the workers and the publisher connect here. */
  redisUrl: string;
  /** Consumer name in every group (the pod name on Kubernetes); default the host name. */
  consumer?: string;
  /** Worker options applied to every (stream, group) runtime; default those of `createWorker`. */
  defaults?: WorkerTuning;
  /** Per (stream, group) worker options, over `defaults`. */
  groups?: GroupTuning[];
  /**
   * Registry the workers' metrics are exposed on, with `stream` and `group` labels; default
   * prom-client's global registry (the one `/metrics` modules of Nest apps render).
   */
  registry?: Registry;
  /** pino logger of the workers and the publisher; default a JSON logger on stdout (`service: stream-workers-nestjs`). */
  logger?: Logger;
  /** `source` of events published without one; default `stream-workers-nestjs`. */
  source?: string;
  /** Options of the {@link StreamPublisher}'s producer (trim, idempotency TTL, limits, deadline). */
  publisher?: Omit<StreamProducerOptions, 'redis'>;
  /** Start no workers (a service that only publishes, or a test); default false. */
  disableWorkers?: boolean;
}

/** Options of {@link StreamWorkersModule.forRootAsync}: the options from a factory with injected dependencies. */
export interface StreamWorkersModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  /** Returns the options; may be async. */
  useFactory: (...args: never[]) => StreamWorkersModuleOptions | Promise<StreamWorkersModuleOptions>;
  /** Providers passed to `useFactory`, in order. */
  inject?: Array<InjectionToken | OptionalFactoryDependency>;
}
