import { BadRequestException, Body, Controller, HttpCode, Inject, Post } from '@nestjs/common';
import { StreamPublisher } from '@stream-workers/nestjs';
import type { ExampleConfig } from '../shared/config';
import { CONFIG } from '../shared/tokens';

/** `POST /orders` body. `schemaVersion` 1.0: one `sku` and `qty`; 1.1: `items` and a `currency`. */
export interface OrderInput {
  orderId: string;
  schemaVersion?: '1.0' | '1.1';
  sku?: string;
  qty?: number;
  items?: Array<{ sku: string; qty: number }>;
  currency?: string;
  email: string;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Checks the body at the edge; the error names the field. */
function parseOrder(body: unknown): OrderInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestException('body must be a JSON object');
  const b = body as Record<string, unknown>;
  if (typeof b.orderId !== 'string' || !ID.test(b.orderId)) throw new BadRequestException('orderId must be 1-64 letters, digits, _ or -');
  if (typeof b.email !== 'string' || !b.email.includes('@')) throw new BadRequestException('email must be an e-mail address');
  const version = b.schemaVersion ?? '1.0';
  if (version === '1.0') {
    if (typeof b.sku !== 'string' || !ID.test(b.sku)) throw new BadRequestException('sku must be 1-64 letters, digits, _ or -');
    if (!Number.isInteger(b.qty) || (b.qty as number) < 1) throw new BadRequestException('qty must be an integer ≥ 1');
    return { orderId: b.orderId, schemaVersion: '1.0', sku: b.sku, qty: b.qty as number, email: b.email };
  }
  if (version === '1.1') {
    if (!Array.isArray(b.items) || b.items.length === 0) throw new BadRequestException('items must be a non-empty array');
    b.items.forEach((it: unknown, i) => {
      const item = it as Record<string, unknown> | null;
      if (!item || typeof item.sku !== 'string' || !ID.test(item.sku) || !Number.isInteger(item.qty) || (item.qty as number) < 1) {
        throw new BadRequestException(`items[${i}] must be { sku, qty ≥ 1 }`);
      }
    });
    if (typeof b.currency !== 'string' || !/^[A-Z]{3}$/.test(b.currency)) throw new BadRequestException('currency must be an ISO 4217 code');
    return { orderId: b.orderId, schemaVersion: '1.1', items: b.items as OrderInput['items'], currency: b.currency, email: b.email };
  }
  throw new BadRequestException(`schemaVersion must be "1.0" or "1.1", got ${JSON.stringify(version)}`);
}

/** The order service: accepts orders and publishes `order.created` (idempotent on the order id). */
@Controller('orders')
export class OrdersController {
  constructor(
    private readonly publisher: StreamPublisher,
    @Inject(CONFIG) private readonly cfg: ExampleConfig,
  ) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown): Promise<{ orderId: string; entryId: string; duplicate: boolean; correlationId: string }> {
    const { schemaVersion, ...data } = parseOrder(body);
    // The order id as event id: a client retrying the POST appends nothing twice.
    const r = await this.publisher.publish(this.cfg.stream, { id: `order-${data.orderId}`, type: 'order.created', schemaversion: schemaVersion, data });
    return { orderId: data.orderId, entryId: r.entryId, duplicate: r.duplicate, correlationId: r.correlationId };
  }
}
