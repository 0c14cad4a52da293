// Tells the customer their order was received (here: a log line standing in for the mail).
exports.handle = async (event, ctx) => {
  ctx.logger.info({ order: event.id, to: event.data && event.data.email }, 'confirmation sent');
};
