// An ES module consumer of the packed packages (compiled with strict TypeScript, then run).
import { createRequire } from 'node:module';
import { createWorker } from '@stream-workers/worker';
import { createPublisher } from '@stream-workers/producer';
import { DeadLetterError, isDeadLetterError } from '@stream-workers/core';

const redisUrl = process.env.REDIS_URL!;
const stream = process.env.STREAM!;
const n = Number(process.env.EVENTS);
const require = createRequire(import.meta.url);
const expressLoaded = Object.keys(require.cache).some((k) => /[\\/]node_modules[\\/]express[\\/]/.test(k));

const publisher = createPublisher({ redisUrl });
await publisher.producer.publish(stream, Array.from({ length: n }, (_, i) => ({ id: `esm-${i}`, source: 'esm-consumer', type: 'demo.created', data: { i } })));
const seen = new Set<number>();
let resolve!: () => void;
const all = new Promise<void>((r) => (resolve = r));
const worker = await createWorker({ redisUrl, stream, group: 'g', consumer: 'c1' }, async (event) => {
  seen.add((event.data as { i: number }).i);
  if (seen.size === n) resolve();
});
await all;
await worker.close();
await publisher.close();
const brand = isDeadLetterError(new DeadLetterError('unrouted', 'x'));
process.stdout.write(JSON.stringify({ consumer: 'esm', processed: seen.size, expressLoaded, brand }) + '\n');
