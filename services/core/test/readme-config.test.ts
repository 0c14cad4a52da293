/**
 * The README's configuration tables are generated from the services' option definitions; this test
 * fails when they drift. `make docs` (UPDATE_DOCS=1) rewrites them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTable, type ConfigDefinition, type ConfigSpec } from '../src/config';
import { workerConfig } from '../../worker/src/config';
import { producerConfig } from '../../producer/src/config';
import { lagExporterConfig } from '../../lag-exporter/src/config';
import { autoscalerConfig } from '../../autoscaler/src/config';

const README = join(__dirname, '..', '..', '..', 'README.md');
const sections: Array<[string, ConfigDefinition<ConfigSpec>]> = [
  ['worker', workerConfig as unknown as ConfigDefinition<ConfigSpec>],
  ['producer', producerConfig as unknown as ConfigDefinition<ConfigSpec>],
  ['lag-exporter', lagExporterConfig as unknown as ConfigDefinition<ConfigSpec>],
  ['autoscaler', autoscalerConfig as unknown as ConfigDefinition<ConfigSpec>],
];

function render(readme: string): string {
  let out = readme;
  for (const [name, def] of sections) {
    const start = `<!-- config:${name}:start -->`;
    const end = `<!-- config:${name}:end -->`;
    const a = out.indexOf(start);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`README.md has no ${start} … ${end} section`);
    const body = `\n### ${name}\n\n${configTable(def)}\n`;
    out = out.slice(0, a + start.length) + body + out.slice(b);
  }
  return out;
}

test('README configuration tables match the services\' option definitions', () => {
  const readme = readFileSync(README, 'utf8');
  const expected = render(readme);
  if (process.env.UPDATE_DOCS === '1') writeFileSync(README, expected);
  else expect(readme).toBe(expected);
});

test('every variable named in docs/design.md\'s runtime contract is defined by its service', () => {
  const names = (def: ConfigDefinition<ConfigSpec>) => Object.values(def.specs).map((s) => s.name);
  expect(names(sections[0]![1])).toEqual(expect.arrayContaining(['REDIS_URL', 'PORT', 'LOG_LEVEL', 'STREAM', 'GROUP', 'CONSUMER', 'GROUP_START_ID', 'BATCH_SIZE', 'CONCURRENCY', 'BLOCK_MS', 'MAX_DELIVERIES', 'CLAIM_IDLE_MS', 'DEAD_LETTER_STREAM', 'SHUTDOWN_GRACE_MS', 'HANDLER', 'SIM_WORK_MS', 'SIM_FAIL_RATE', 'SIM_POISON_TYPE']));
  expect(names(sections[1]![1])).toEqual(expect.arrayContaining(['STREAMS', 'MAX_EVENT_BYTES', 'MAXLEN', 'IDEMPOTENCY_TTL_S']));
  expect(names(sections[2]![1])).toEqual(expect.arrayContaining(['STREAMS', 'GROUPS', 'SCRAPE_TIMEOUT_MS']));
  expect(names(sections[3]![1])).toEqual(expect.arrayContaining(['STREAM', 'GROUP', 'TARGET_KIND', 'TARGET_NAME', 'NAMESPACE', 'TARGET_PER_REPLICA', 'ACTIVATION', 'MIN_REPLICAS', 'MAX_REPLICAS', 'POLL_INTERVAL_MS', 'COOLDOWN_S', 'SCALE_DOWN_WINDOW_S', 'POD_SELECTOR']));
});
