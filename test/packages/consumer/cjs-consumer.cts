// A CommonJS consumer of the packed packages (compiled with strict TypeScript, then run).
import { createWorker, type HandlerContext } from '@stream-workers/worker';
import { createPublisher, PublishValidationError, type StreamEvent } from '@stream-workers/producer';

async function main(): Promise<void> {
  const redisUrl = process.env.REDIS_URL!;
  const stream = process.env.STREAM!;
  const n = Number(process.env.EVENTS);
  // The publishing library must not load express.
  const expressLoaded = Object.keys(require.cache).some((k) => /[\\/]node_modules[\\/]express[\\/]/.test(k));
  const publisher = createPublisher({ redisUrl });
  const events = Array.from({ length: n }, (_, i) => ({ id: `cjs-${i}`, source: 'cjs-consumer', type: 'demo.created', data: { i } }));
  await publisher.producer.publish(stream, events);
  let invalid = '';
  try {
    await publisher.producer.publish(stream, [{ source: 'cjs-consumer', data: 1 }]);
  } catch (err) {
    if (err instanceof PublishValidationError) invalid = err.errors.map((e) => e.field).join(',');
  }
  const seen = new Set<number>();
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  // Only the four required options: logger, registry and the rest default.
  const worker = await createWorker({ redisUrl, stream, group: 'g', consumer: 'c1' }, (event: StreamEvent, ctx: HandlerContext) => {
    seen.add((event.data as { i: number }).i);
    if (seen.size === n) done();
    void ctx.entryId;
  });
  await all;
  await worker.close();
  await publisher.close();
  process.stdout.write(JSON.stringify({ consumer: 'cjs', processed: seen.size, expressLoaded, invalid }) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(String(err instanceof Error ? err.stack : err) + '\n');
  process.exitCode = 1;
});
