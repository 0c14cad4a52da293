import { defineConfig, int, str, oneOf, list, redisUrl, bool, commonSpecs, ConfigErrors, configTable } from '../src/config';

const def = defineConfig('demo', {
  ...commonSpecs(8080),
  stream: str('STREAM', { description: 'stream', default: 'events' }),
  batch: int('BATCH_SIZE', { description: 'batch', default: 100, min: 1, max: 10_000 }),
  kind: oneOf('TARGET_KIND', ['deployment', 'local'] as const, { description: 'kind', default: 'deployment' }),
  streams: list('STREAMS', { description: 'streams', default: ['events'] }),
  dlq: str('DEAD_LETTER_STREAM', { description: 'dlq', derive: (env) => `${env.STREAM ?? 'events'}:dlq`, defaultText: '<STREAM>:dlq' }),
  paused: bool('PAUSED', { description: 'paused', default: false }),
});

describe('config from environment', () => {
  test('defaults when unset', () => {
    const c = def.parse({});
    expect(c).toEqual({
      redisUrl: 'redis://127.0.0.1:6379', port: 8080, logLevel: 'info', stream: 'events', batch: 100,
      kind: 'deployment', streams: ['events'], dlq: 'events:dlq', paused: false,
    });
  });

  test('values are parsed and typed', () => {
    const c = def.parse({ BATCH_SIZE: '250', STREAMS: 'a, b,,c', STREAM: 'orders', TARGET_KIND: 'local', PAUSED: 'yes', REDIS_URL: 'rediss://u:p@redis.example:6380/2' });
    expect(c.batch).toBe(250);
    expect(c.streams).toEqual(['a', 'b', 'c']);
    expect(c.dlq).toBe('orders:dlq');
    expect(c.kind).toBe('local');
    expect(c.paused).toBe(true);
    expect(c.redisUrl).toBe('rediss://u:p@redis.example:6380/2');
  });

  test.each([
    ['BATCH_SIZE', 'abc', /BATCH_SIZE="abc" is invalid: expected an integer from 1 to 10000/],
    ['BATCH_SIZE', '0', /BATCH_SIZE="0" is invalid/],
    ['BATCH_SIZE', '1e3', /BATCH_SIZE="1e3"/],
    ['BATCH_SIZE', '12.5', /BATCH_SIZE="12.5"/],
    ['REDIS_URL', 'nope', /REDIS_URL="nope" is invalid: expected a URL redis:\/\//],
    ['REDIS_URL', 'http://x:6379', /REDIS_URL="http:\/\/x:6379"/],
    ['TARGET_KIND', 'statefulset', /TARGET_KIND="statefulset" is invalid: expected one of deployment, local/],
    ['PAUSED', 'maybe', /PAUSED="maybe" is invalid: expected true or false/],
    ['PORT', '70000', /PORT="70000" is invalid: expected an integer from 0 to 65535/],
    ['LOG_LEVEL', 'verbose', /LOG_LEVEL="verbose" is invalid: expected one of fatal, error/],
  ])('%s=%s is rejected with a message naming it', (name, value, re) => {
    expect(() => def.parse({ [name]: value })).toThrow(re);
  });

  test('all bad variables are reported at once', () => {
    try {
      def.parse({ BATCH_SIZE: 'x', PORT: '-1' });
      throw new Error('expected ConfigErrors');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigErrors);
      expect((err as ConfigErrors).errors.map((e) => e.variable)).toEqual(['PORT', 'BATCH_SIZE']);
    }
  });

  test('the configuration table lists every variable with its default', () => {
    const t = configTable(def);
    expect(t).toContain('| `BATCH_SIZE` | `100` |');
    expect(t).toContain('| `DEAD_LETTER_STREAM` | `<STREAM>:dlq` |');
    expect(t.split('\n')).toHaveLength(2 + Object.keys(def.specs).length);
  });

  test('a required variable without default is reported as required', () => {
    const d = defineConfig('x', { u: redisUrl('URL', { description: 'u' }) });
    expect(() => d.parse({})).toThrow('URL is required');
  });
});
