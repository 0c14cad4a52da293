// An example handler: HANDLER=services/worker/examples/order-handler.js
//
// Handles `order.created` events idempotently: the order id is recorded with SET NX, so a redelivered
// event (at-least-once) is recognised and skipped instead of being applied twice. Other event types
// are logged and acknowledged. A missing order id is a permanent error: thrown, it is retried and
// then lands in the dead-letter stream for a human to look at.
'use strict';
const Redis = require('ioredis');

const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
redis.on('error', () => undefined);
const prefix = process.env.ORDERS_PREFIX || 'orders';

/**
 * @param {import('@stream-workers/core').StreamEvent} event
 * @param {import('@stream-workers/worker').HandlerContext} ctx
 */
async function handle(event, ctx) {
  if (event.type !== 'order.created') {
    ctx.logger.info('ignoring event type');
    return;
  }
  const order = event.data;
  if (!order || typeof order.orderId !== 'string') throw new Error('order.created without data.orderId');
  // First delivery wins; a redelivery finds the marker and does nothing.
  const first = await redis.set(`${prefix}:applied:${order.orderId}`, event.id, 'EX', 7 * 86400, 'NX');
  if (first === null) {
    ctx.logger.info({ orderId: order.orderId, deliveryCount: ctx.deliveryCount }, 'order already applied; skipping duplicate');
    return;
  }
  await redis.hincrby(`${prefix}:totals`, order.currency || 'EUR', Math.round((order.amount || 0) * 100));
  ctx.logger.info({ orderId: order.orderId }, 'order applied');
}

module.exports = { handle };
