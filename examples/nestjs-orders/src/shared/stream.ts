/**
 * The orders stream, from `STREAM` (default `orders`). Read when the handler classes load: a
 * decorator's arguments are fixed then, so this is the one setting not parsed in main.ts.
 */
export const ORDERS_STREAM: string = (() => {
  const s = process.env.STREAM ?? 'orders';
  if (!/^[\x21-\x7e]{1,200}$/.test(s)) throw new RangeError(`STREAM=${JSON.stringify(s)} is invalid: expected a stream key without spaces`);
  return s;
})();
