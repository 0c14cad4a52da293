/**
 * The example's three services, one process each: `node dist/main.js orders|inventory|notifications` (or ROLE=…).
 * Environment: REDIS_URL, STREAM, PORT (0: any free port), CONSUMER, MAX_DELIVERIES, RETRY_DELAY_MS,
 * CONCURRENCY, NOTIFY_WORK_MS. SIGTERM drains the stream workers (enableShutdownHooks), then exits.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { AddressInfo } from 'node:net';
import { parseConfig } from './shared/config';
import { SharedModule } from './shared/shared.module';
import { ProblemFilter } from './shared/problem.filter';
import { OrdersModule } from './orders/orders.module';
import { InventoryModule } from './inventory/inventory.module';
import { NotificationsModule } from './notifications/notifications.module';

async function main(): Promise<void> {
  const cfg = parseConfig(process.argv[2] ?? process.env.ROLE, process.env);
  const feature = { orders: OrdersModule, inventory: InventoryModule, notifications: NotificationsModule }[cfg.role];
  const root = {
    module: class AppModule {},
    imports: [SharedModule.forRoot(cfg, { maxDeliveries: cfg.maxDeliveries, retryDelayMs: cfg.retryDelayMs, concurrency: cfg.concurrency }), feature],
  };
  const app = await NestFactory.create(root, { logger: ['error', 'warn'] });
  app.useGlobalFilters(new ProblemFilter());
  (app.getHttpAdapter().getInstance() as { disable(name: string): void }).disable('x-powered-by');
  app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  await app.listen(cfg.port, '127.0.0.1');
  const port = (app.getHttpServer().address() as AddressInfo).port;
  process.stdout.write(JSON.stringify({ level: 'info', service: `nestjs-orders/${cfg.role}`, msg: 'listening', port }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
