/**
 * Graceful shutdown of the producer binary (`npx tsc -b services/producer` first): SIGTERM while a
 * request is in flight stops accepting, answers the in-flight request, then closes Redis and exits 0.
 */
import Redis from 'ioredis';
import { startService, waitFor } from '../../../test-support/process';
import { PrivateRedis, freePort } from '../../../test-support/redis';

async function blockedClients(admin: Redis): Promise<number> {
  const m = /blocked_clients:(\d+)/.exec(await admin.info('clients'));
  return m ? Number(m[1]) : 0;
}

describe('producer process: graceful shutdown (private redis-server, CLIENT PAUSE holds a request in flight)', () => {
  test('SIGTERM with a batch in flight: new connections refused, the batch answered 202 and in the stream, keep-alive not waited out, exit 0 clean', async () => {
    const server = await PrivateRedis.start();
    const admin = new Redis(server.url);
    const port = await freePort();
    // PUBLISH_TIMEOUT_MS 5000 puts the shutdown deadline at 10 s: a shutdown that waits for the
    // 65 s keep-alive timeout of the in-flight request's connection ends unclean.
    const svc = startService('producer', { REDIS_URL: server.url, PORT: String(port), STREAMS: 'events', PUBLISH_TIMEOUT_MS: '5000' });
    const url = `http://127.0.0.1:${port}/v1/streams/events/events`;
    const post = (body: unknown, type: string) =>
      fetch(url, { method: 'POST', headers: { 'content-type': type }, body: JSON.stringify(body) }).then(async (r) => ({
        status: r.status,
        connection: r.headers.get('connection'),
        json: (await r.json()) as { ids?: string[] },
      }));
    try {
      await svc.waitForLog((l) => l.msg === 'producer started');
      // It listens before Redis is connected (answering 503 until then): wait for readiness.
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 20_000, 20, '/readyz 200');
      expect((await post({ source: 'test', type: 't', data: 0 }, 'application/json')).status).toBe(202);

      await admin.call('CLIENT', 'PAUSE', '60000', 'WRITE');
      const batch = Array.from({ length: 50 }, (_, i) => ({ id: `b-${i}`, source: 'test', type: 't', data: i }));
      const inFlight = post(batch, 'application/cloudevents-batch+json');
      // The batch's script reached Redis and is held by the pause: the request is in flight.
      await waitFor(async () => (await blockedClients(admin)) >= 1, 20_000, 20, 'the batch script blocked by CLIENT PAUSE');

      svc.kill('SIGTERM');
      await svc.waitForLog((l) => l.msg === 'shutting down');
      const late = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ source: 'test', type: 't', data: 'late' }) }).then(
        (r) => r.status,
        () => 'refused',
      );
      expect(late === 'refused' || late === 503).toBe(true);

      await admin.call('CLIENT', 'UNPAUSE');
      const answer = await inFlight;
      expect(answer.status).toBe(202);
      expect(answer.connection).toBe('close');
      expect(answer.json.ids).toHaveLength(50);
      expect(await svc.exited).toEqual({ code: 0, signal: null });
      const done = svc.logs.find((l) => l.msg === 'shutdown complete');
      expect(done).toMatchObject({ clean: true, failed: [] });
      // Redis was closed after the in-flight request had its answer: all 51 answered events are there.
      const entries = await admin.xrange('events', '-', '+');
      expect(entries).toHaveLength(51);
      expect(entries.slice(1).map((e) => e[0])).toEqual(answer.json.ids);
    } finally {
      svc.kill('SIGKILL');
      await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
      admin.disconnect();
      await server.stop();
    }
  });
});
