import { defineConfig, int, num, str, oneOf, list, redisUrl, bool, commonSpecs, ConfigErrors, configTable, checkOption } from '../src/config';

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
      redis: { topology: { kind: 'single', host: '127.0.0.1', port: 6379, db: 0 } }, port: 8080, logLevel: 'info', stream: 'events', batch: 100,
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
    expect(c.redis).toEqual({ topology: { kind: 'single', host: 'redis.example', port: 6380, db: 2 }, username: 'u', password: 'p', tls: {} });
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

describe('checkOption: a library option checked against the rule of its variable', () => {
  const batch = int('BATCH_SIZE', { description: 'batch', default: 100, min: 1, max: 10_000 });
  const rate = num('RATE', { description: 'rate', default: 0, min: 0, max: 1 });
  const key = str('STREAM', { description: 'stream', pattern: /^[^\s]{1,512}$/, patternText: 'a stream key without spaces' });
  const kind = oneOf('TARGET_KIND', ['deployment', 'local'] as const, { description: 'kind', default: 'deployment' });
  const url = redisUrl('REDIS_URL', { description: 'url' });

  test('a value is accepted exactly when the variable with that text is', () => {
    for (const v of [-1, 0, 1, 1.5, 10_000, 10_001, NaN, Infinity]) {
      let env = true;
      try {
        batch.parse(String(v), {});
      } catch {
        env = false;
      }
      expect([v, batch.accepts(v)]).toEqual([v, env]);
    }
    expect([rate.accepts(0.5), rate.accepts(1.01), rate.accepts(Infinity), rate.accepts(NaN)]).toEqual([true, false, false, false]);
    expect([key.accepts('events'), key.accepts(''), key.accepts(' events'), key.accepts('a b')]).toEqual([true, false, false, false]);
    expect([kind.accepts('local'), kind.accepts('statefulset' as 'local')]).toEqual([true, false]);
    expect([url.accepts('rediss://u:p@h:6380/2'), url.accepts('http://h'), url.accepts(' redis://h')]).toEqual([true, false, false]);
  });

  test('undefined is left to the default unless required; the errors name the option, the value and what is allowed', () => {
    expect(checkOption('lib', 'batchSize', batch, undefined)).toBeUndefined();
    expect(checkOption('lib', 'batchSize', batch, 250)).toBe(250);
    const thrown = (fn: () => unknown): Error => {
      try {
        fn();
      } catch (err) {
        return err as Error;
      }
      throw new Error('expected a throw');
    };
    const range = thrown(() => checkOption('lib', 'batchSize', batch, 0));
    expect([range.constructor, range.message]).toEqual([RangeError, 'lib: option batchSize=0 is invalid: expected an integer from 1 to 10000']);
    const type = thrown(() => checkOption('lib', 'batchSize', batch, '5'));
    expect([type.constructor, type.message]).toEqual([TypeError, 'lib: option batchSize="5" is invalid: expected an integer from 1 to 10000, got a string']);
    const missing = thrown(() => checkOption('lib', 'stream', key, undefined, true));
    expect([missing.constructor, missing.message]).toEqual([TypeError, 'lib: option stream is required: expected a stream key without spaces']);
    expect(thrown(() => checkOption('lib', 'stream', key, ['a'])).message).toMatch(/option stream=an array is invalid: .*, got an array$/);
  });
});
