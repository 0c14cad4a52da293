import { request, Agent } from 'node:http';
import { createLogger, createRegistry, OpsServer, type Readiness } from '../src';
import { Writable } from 'node:stream';
import { waitFor } from '../../../test-support/process';

const silent = createLogger({ service: 'test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) as never });

function get(port: number, path: string, agent?: Agent): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('OpsServer (real HTTP)', () => {
  test('/livez, /readyz following the readiness callback, /metrics in Prometheus format, 404 as problem+json', async () => {
    let readiness: Readiness = { ready: false, reason: 'redis unreachable' };
    const registry = createRegistry({ processMetrics: false });
    const ops = new OpsServer({ port: 0, host: '127.0.0.1', registry, logger: silent, readiness: () => readiness });
    const port = await ops.listen();
    try {
      expect((await get(port, '/livez')).status).toBe(200);
      const notReady = await get(port, '/readyz');
      expect(notReady.status).toBe(503);
      expect(notReady.body).toContain('redis unreachable');
      readiness = { ready: true };
      expect((await get(port, '/readyz')).status).toBe(200);
      const metrics = await get(port, '/metrics');
      expect(metrics.status).toBe(200);
      expect(String(metrics.headers['content-type'])).toContain('text/plain');
      const missing = await get(port, '/nope');
      expect(missing.status).toBe(404);
      expect(missing.headers['content-type']).toContain('application/problem+json');
      expect(JSON.parse(missing.body)).toMatchObject({ status: 404, title: 'Not Found' });
    } finally {
      await ops.close();
    }
  });

  test('close() does not wait for a keep-alive connection that was busy when it began', async () => {
    let release: (() => void) | undefined;
    const registry = createRegistry({ processMetrics: false });
    const ops = new OpsServer({
      port: 0, host: '127.0.0.1', registry, logger: silent, readiness: () => ({ ready: true }),
      routes: (app) => app.get('/slow', (_req, res) => { release = () => res.send('done'); }),
    });
    const port = await ops.listen();
    const agent = new Agent({ keepAlive: true });
    const slow = get(port, '/slow', agent);
    await waitFor(() => release !== undefined, 10_000, 5, 'the slow request to reach its handler');
    let closed = false;
    void ops.close().then(() => (closed = true));
    release!();
    const answer = await slow;
    expect(answer.body).toBe('done');
    expect(answer.headers.connection).toBe('close');
    // The server closes once the answered connection is gone, long before the keep-alive timeout (65 s).
    await waitFor(() => closed, 30_000, 10, 'close() to resolve');
    expect(closed).toBe(true);
    agent.destroy();
  });
});
