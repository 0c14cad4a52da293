/**
 * The binary as deployed: `node services/lag-exporter/dist/main.js` (built first with `tsc -b`), its
 * JSON logs, its start-up errors and its graceful shutdown on SIGTERM.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { REPO_ROOT, startService, waitFor } from '../../../test-support/process';
import { SHARED_REDIS_URL, deleteKeys, freePort, uniquePrefix } from '../../../test-support/redis';
import { parseMetrics, value } from './support/metrics';

beforeAll(() => {
  execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'services/lag-exporter'], { cwd: REPO_ROOT, stdio: 'pipe' });
});

test('invalid configuration: exit 2 with a message naming the variable, the value and what is allowed', async () => {
  const svc = startService('lag-exporter', { REDIS_URL: SHARED_REDIS_URL, SCRAPE_TIMEOUT_MS: '5s', PORT: '0' });
  const { code } = await svc.exited;
  expect(code).toBe(2);
  expect(svc.stderr()).toMatch(/SCRAPE_TIMEOUT_MS="5s" is invalid: expected an integer from 50 to 120000 \(ms\)/);
});

test('serves /metrics, /livez, /readyz; GROUPS filters; SIGTERM: shutdown complete, exit 0', async () => {
  const prefix = uniquePrefix('lagx-bin');
  const admin = new Redis(SHARED_REDIS_URL);
  const stream = `${prefix}:events`;
  const port = await freePort();
  const svc = startService('lag-exporter', { REDIS_URL: SHARED_REDIS_URL, PORT: String(port), STREAMS: stream, GROUPS: 'workers' });
  try {
    for (let i = 0; i < 7; i++) await admin.xadd(stream, '*', 'n', String(i));
    await admin.xgroup('CREATE', stream, 'workers', '0');
    await admin.xgroup('CREATE', stream, 'ignored', '0');
    const started = await svc.waitForLog((l) => l.msg === 'lag exporter started');
    expect(started).toMatchObject({ service: 'lag-exporter', port, streams: [stream], groups: ['workers'] });
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
    // Ready once its Redis connection is up (it may still be connecting when it logs its start).
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, 10_000, 50, 'exporter /readyz 200');
    const all = parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    expect(value(all, 'stream_workers_group_outstanding', { stream, group: 'workers' })).toBe(7);
    expect(value(all, 'stream_workers_group_outstanding', { stream, group: 'ignored' })).toBeUndefined(); // GROUPS filter
    expect(value(all, 'process_cpu_user_seconds_total')).toBeDefined();
    svc.kill('SIGTERM');
    const { code } = await svc.exited;
    expect(code).toBe(0);
    expect(svc.logs.some((l) => l.msg === 'shutdown complete' && l.clean === true)).toBe(true);
  } finally {
    svc.kill('SIGKILL');
    await deleteKeys(admin, prefix);
    admin.disconnect();
  }
});
