/**
 * @stream-workers/nestjs/terminus: the health indicator for @nestjs/terminus (a separate entry, so the
 * module works without terminus installed).
 * @packageDocumentation
 */
import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { StreamWorkersRuntime } from './runtime';

/**
 * A @nestjs/terminus health indicator: `up` while every (stream, group) worker is ready (Redis
 * reachable, group present, not draining), else `down` naming the first one that is not. Provide it
 * in a module that imports `TerminusModule`.
 *
 * @example
 * health.check([() => indicator.isHealthy('stream-workers')])
 */
@Injectable()
export class StreamWorkersHealthIndicator {
  /**
   * @param runtime The module's worker runtimes.
   * @param indicators terminus' result helper.
   */
  constructor(
    private readonly runtime: StreamWorkersRuntime,
    private readonly indicators: HealthIndicatorService,
  ) {}

  /** The result under `key`: `up` with the runtimes, or `down` with the reason. */
  isHealthy<const Key extends string>(key: Key): HealthIndicatorResult<Key> {
    const session = this.indicators.check(key);
    const r = this.runtime.readiness();
    const runtimes = this.runtime.runtimes().map((g) => `${g.stream}/${g.group}`);
    return r.ready ? session.up({ runtimes }) : session.down({ reason: r.reason, runtimes });
  }
}
