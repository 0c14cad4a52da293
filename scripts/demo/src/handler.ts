/**
 * The demo's event handler, loaded by every worker through `HANDLER=scripts/demo/dist/handler.js`
 * (the same hook a user's handler plugs into: a module exporting `handle(event, ctx)`).
 *
 * It runs the worker's built-in simulated handler (waits SIM_WORK_MS, always fails events of type
 * SIM_POISON_TYPE, so they end in the dead-letter stream after MAX_DELIVERIES) and, after the work
 * succeeded and before the worker acks, records the event in a Redis hash (the ledger,
 * `<stream>:demo:processed`, field `<source>/<id>`, value = how many times it was processed). The demo
 * counts "processed" and "duplicates" from that ledger, independently of the acks: an event the
 * worker acked without running the handler would show up as lost.
 *
 * This module runs inside the worker process and reads the worker's own environment (REDIS_URL,
 * SIM_WORK_MS, SIM_POISON_TYPE): the handler contract passes no settings.
 */
import Redis from 'ioredis';
import type { StreamEvent } from '@stream-workers/core';
import { simHandler, type HandlerContext } from '@stream-workers/worker';

/** The ledger hash of `stream`. */
export function ledgerKey(stream: string): string {
  return `${stream}:demo:processed`;
}

/** The ledger field of an event. */
export function ledgerField(e: Pick<StreamEvent, 'source' | 'id'>): string {
  return `${e.source}/${e.id}`;
}

let client: Redis | undefined;

function redis(): Redis {
  if (!client) {
    client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1, enableAutoPipelining: true, connectionName: 'demo-handler-ledger' });
    client.on('error', () => undefined); // the worker logs Redis trouble; a failed HINCRBY fails the event, which is retried
  }
  return client;
}

const simulated = simHandler({
  workMs: Number(process.env.SIM_WORK_MS ?? '5'),
  failRate: 0,
  poisonType: process.env.SIM_POISON_TYPE || undefined,
});

export async function handle(event: StreamEvent, ctx: HandlerContext): Promise<void> {
  await simulated(event, ctx);
  await redis().hincrby(ledgerKey(ctx.stream), ledgerField(event), 1);
}
