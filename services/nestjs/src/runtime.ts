import { hostname } from 'node:os';
import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { register as globalRegistry } from 'prom-client';
import { createLogger, createRegistry, type Logger, type Readiness } from '@stream-workers/core';
import { createWorker, type Handler, type Worker } from '@stream-workers/worker';
import { STREAM_WORKERS_OPTIONS } from './constants';
import { MetricsBridge } from './metrics-bridge';
import type { StreamWorkersModuleOptions } from './options';
import { StreamRouter } from './router';
import { streamHandlerRoutes } from './stream-handler.decorator';

/** One (stream, group) worker runtime and its routes. */
export interface GroupRuntime {
  /** The stream read. */
  readonly stream: string;
  /** The consumer group read in. */
  readonly group: string;
  /** The routing table of the (stream, group). */
  readonly router: StreamRouter;
  /** The worker (every guarantee of createWorker); undefined until bootstrap started it. */
  worker: Worker | undefined;
}

/**
 * Finds the {@link StreamHandler} methods at bootstrap and runs one worker per (stream, group) with
 * their routes; drains every worker before the app shuts down (`enableShutdownHooks()` on SIGTERM).
 */
@Injectable()
export class StreamWorkersRuntime implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly groups = new Map<string, GroupRuntime>();
  private readonly logger: Logger;
  private bridge: MetricsBridge | undefined;
  private closing: Promise<void> | undefined;

  /**
   * @param options The module's options.
   * @param discovery Nest's provider discovery.
   * @param scanner Nest's method scanner.
   */
  constructor(
    @Inject(STREAM_WORKERS_OPTIONS) private readonly options: StreamWorkersModuleOptions,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
  ) {
    this.logger = options.logger ?? createLogger({ service: 'stream-workers-nestjs' });
  }

  /** Discovers the handlers, then starts one worker per (stream, group). */
  async onApplicationBootstrap(): Promise<void> {
    this.explore();
    if (this.options.disableWorkers) return;
    this.bridge = new MetricsBridge(this.options.registry ?? globalRegistry);
    const consumer = this.options.consumer ?? hostname();
    try {
      for (const g of this.groups.values()) await this.start(g, consumer);
    } catch (err) {
      // A worker that could not start (a bad option, Redis unreachable): stop the ones that did.
      await Promise.all([...this.groups.values()].map((g) => g.worker?.close({ force: true })));
      throw err;
    }
  }

  private async start(g: GroupRuntime, consumer: string): Promise<void> {
    {
      const tuning = this.options.groups?.find((t) => t.stream === g.stream && t.group === g.group);
      const { stream: _s, group: _g, ...own } = tuning ?? { stream: '', group: '' };
      const registry = createRegistry({ processMetrics: false });
      g.worker = await createWorker(
        { ...this.options.defaults, ...own, redisUrl: this.options.redisUrl, stream: g.stream, group: g.group, consumer, logger: this.logger, registry },
        g.router.handle,
      );
      await this.bridge!.add(registry, { stream: g.stream, group: g.group });
      this.logger.info({ stream: g.stream, group: g.group, routes: g.router.routes().map((r) => r.name) }, 'stream handlers started');
    }
  }

  /** Drains every worker (running handlers finish and are acked; unread entries are handed back). */
  beforeApplicationShutdown(): Promise<void> {
    return (this.closing ??= this.drain());
  }

  private async drain(): Promise<void> {
    await Promise.all([...this.groups.values()].map((g) => g.worker?.close()));
    this.bridge?.close();
  }

  /** The runtimes, one per (stream, group). */
  runtimes(): GroupRuntime[] {
    return [...this.groups.values()];
  }

  /** Ready when every worker is (Redis reachable, group present, not draining). */
  readiness(): Readiness {
    for (const g of this.groups.values()) {
      if (!g.worker) return { ready: false, reason: `${g.stream}/${g.group}: not started` };
      const r = g.worker.readiness();
      if (!r.ready) return { ready: false, reason: `${g.stream}/${g.group}: ${r.reason}` };
    }
    return { ready: true };
  }

  private explore(): void {
    const wrappers = [...this.discovery.getProviders(), ...this.discovery.getControllers()];
    for (const w of wrappers) {
      const instance: unknown = w.instance;
      if (!instance || typeof instance !== 'object' || !w.isDependencyTreeStatic()) continue;
      const proto = Object.getPrototypeOf(instance) as object;
      for (const method of this.scanner.getAllMethodNames(proto)) {
        const fn = (instance as Record<string, unknown>)[method];
        for (const route of streamHandlerRoutes(fn)) {
          const k = `${route.stream}\u0000${route.group}`;
          let g = this.groups.get(k);
          if (!g) {
            g = { stream: route.stream, group: route.group, router: new StreamRouter(route.stream, route.group), worker: undefined };
            this.groups.set(k, g);
          }
          g.router.add({
            ...(route.type !== undefined ? { type: route.type } : {}),
            ...(route.schemaVersion !== undefined ? { schemaVersion: route.schemaVersion } : {}),
            handle: (fn as Handler).bind(instance),
            name: `${instance.constructor.name}.${method}`,
          });
        }
      }
    }
  }
}
