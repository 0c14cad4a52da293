import { Controller, Get, Header, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { StreamWorkersHealthIndicator } from '@stream-workers/nestjs/terminus';
import type { Registry } from 'prom-client';

/** Injection token of the app's metrics registry. */
export const METRICS_REGISTRY = Symbol('metrics-registry');

/** `GET /health` (terminus: the stream workers' readiness) and `GET /metrics` (the app's registry). */
@Controller()
export class OpsController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly streams: StreamWorkersHealthIndicator,
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
  ) {}

  @Get('health')
  @HealthCheck()
  check(): Promise<HealthCheckResult> {
    return this.health.check([() => this.streams.isHealthy('streams')]);
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
