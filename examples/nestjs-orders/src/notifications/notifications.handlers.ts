import { Inject, Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import type Redis from 'ioredis';
import { StreamHandler, type HandlerContext, type StreamEvent } from '@stream-workers/nestjs';
import { CONFIG, REDIS, processedKey } from '../shared/tokens';
import type { ExampleConfig } from '../shared/config';
import { ORDERS_STREAM } from '../shared/stream';

const STREAM = ORDERS_STREAM;

/** The notification service (group `notifications`): one method for every version of `order.created`. */
@Injectable()
export class NotificationHandlers {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(CONFIG) private readonly cfg: ExampleConfig,
  ) {}

  @StreamHandler({ stream: STREAM, group: 'notifications', type: 'order.created' })
  async notify(event: StreamEvent, ctx: HandlerContext): Promise<void> {
    const d = event.data as { orderId: string; email: string };
    // Sending the e-mail (simulated): stops when the shutdown grace runs out.
    if (this.cfg.notifyWorkMs > 0) await sleep(this.cfg.notifyWorkMs, undefined, { signal: ctx.signal });
    await this.redis.sadd(processedKey(this.cfg.stream, 'notifications'), d.orderId);
  }
}
