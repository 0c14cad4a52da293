import { Inject, Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { StreamHandler, type HandlerContext, type StreamEvent } from '@stream-workers/nestjs';
import { CONFIG, REDIS, processedKey } from '../shared/tokens';
import type { ExampleConfig } from '../shared/config';
import { ORDERS_STREAM } from '../shared/stream';

const STREAM = ORDERS_STREAM;

/** A SKU the warehouse does not stock: reserving it always fails (the poison order). */
export const POISON_SKU = 'POISON';

/**
 * The inventory service (group `inventory`): schema 1.0 orders carry one `sku`/`qty`, 1.1 orders a
 * list of `items`; each version has its method. A failing reservation is retried, then dead-lettered.
 */
@Injectable()
export class InventoryHandlers {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly cfg: ExampleConfig,
  ) {}

  @StreamHandler({ stream: STREAM, group: 'inventory', type: 'order.created', schemaVersion: '1.0' })
  async reserveV10(event: StreamEvent, _ctx: HandlerContext): Promise<void> {
    const d = event.data as { orderId: string; sku: string; qty: number };
    await this.reserve(d.orderId, [{ sku: d.sku, qty: d.qty }], '1.0');
  }

  @StreamHandler({ stream: STREAM, group: 'inventory', type: 'order.created', schemaVersion: '1.1' })
  async reserveV11(event: StreamEvent, _ctx: HandlerContext): Promise<void> {
    const d = event.data as { orderId: string; items: Array<{ sku: string; qty: number }> };
    await this.reserve(d.orderId, d.items, '1.1');
  }

  private async reserve(orderId: string, items: Array<{ sku: string; qty: number }>, version: string): Promise<void> {
    if (items.some((i) => i.sku === POISON_SKU)) throw new Error(`unknown sku ${POISON_SKU} in order ${orderId}`);
    const s = this.cfg.stream;
    // Idempotent records: a redelivered order changes nothing twice.
    await this.redis.multi().sadd(processedKey(s, `inventory:v${version}`), orderId).exec();
  }
}
