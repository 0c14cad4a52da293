/**
 * Must-show 7 of issue 17, on the real binaries: a conflicting or incomplete combination of the Redis
 * variables stops each service at start-up with exit code 2 and a message naming the variables (every
 * combination is covered on the parser: services/core/test/redis-settings.test.ts).
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService } from '../../test-support/process';

const dir = mkdtempSync(join(tmpdir(), 'sw-config-exit-'));
const pw = join(dir, 'pw');
writeFileSync(pw, 'secret\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sentinel = { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_SENTINEL_MASTER: 'mymaster' };
test.each<[string, string, Record<string, string>, RegExp[]]>([
  ['producer', 'REDIS_URL with REDIS_SENTINELS', { REDIS_URL: 'redis://127.0.0.1:6379', ...sentinel }, [/REDIS_URL with REDIS_SENTINELS: set one topology only/]],
  ['producer', 'PRODUCER_MIN_REPLICAS_ACK with a cluster', { REDIS_CLUSTER_NODES: '127.0.0.1:7000', PRODUCER_MIN_REPLICAS_ACK: '1' }, [/PRODUCER_MIN_REPLICAS_ACK with REDIS_CLUSTER_NODES: WAIT is not supported/]],
  ['worker', 'REDIS_PASSWORD with REDIS_PASSWORD_FILE, and a malformed node list', { REDIS_PASSWORD: 'x', REDIS_PASSWORD_FILE: pw, REDIS_CLUSTER_NODES: 'node-without-port' }, [/REDIS_CLUSTER_NODES="node-without-port" is invalid: expected a comma separated list of host:port/, /REDIS_PASSWORD with REDIS_PASSWORD_FILE: set one of them/]],
  ['lag-exporter', 'a client certificate without its key', { REDIS_TLS: 'true', REDIS_TLS_CERT_FILE: pw }, [/REDIS_TLS_CERT_FILE with REDIS_TLS_KEY_FILE: a client certificate needs its key/]],
  ['autoscaler', 'REDIS_SENTINELS without REDIS_SENTINEL_MASTER, TLS files without TLS', { REDIS_SENTINELS: '127.0.0.1:26379', REDIS_TLS_CA_FILE: pw }, [/REDIS_SENTINELS with REDIS_SENTINEL_MASTER: REDIS_SENTINELS needs REDIS_SENTINEL_MASTER/, /REDIS_TLS_CA_FILE with REDIS_TLS: TLS settings without TLS/]],
])('%s, %s: exit 2 naming the variables', async (service, _name, env, messages) => {
  const p = startService(service, { PORT: '0', ...env });
  const { code } = await p.exited;
  const stderr = p.stderr();
  expect(code).toBe(2);
  expect(stderr).toMatch(new RegExp(`^${service}: invalid configuration:`));
  for (const m of messages) expect(stderr).toMatch(m);
});
