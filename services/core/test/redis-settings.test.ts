/**
 * The Redis variables (issue 17): every topology parses, and every conflicting or incomplete
 * combination is refused naming the variables involved (must-show 7, the parser for all of them; the
 * real binaries for a few: test/redis-ha/config-exit.test.ts). Settings passed in code are checked
 * the same way (`checkRedisSettings`, used by createWorker).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigErrors, RedisCredentials, checkRedisSettings, describeRedis, parseNodeList, parseRedisSettings, redisSettingsFromUrl, type Env } from '../src';

const dir = mkdtempSync(join(tmpdir(), 'redis-settings-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const pw = file('pw', 'first\n');
// A CA and a client certificate, so the start-up check (createSecureContext) passes for good files.
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt')], { stdio: 'ignore' });
const ca = join(dir, 'ca.crt');
const key = join(dir, 'ca.key');
const notPem = file('not-pem', 'hello');
const otherKey = join(dir, 'other.key');
execFileSync('openssl', ['genrsa', '-out', otherKey, '2048'], { stdio: 'ignore' });

function errorsOf(env: Env): string[] {
  try {
    parseRedisSettings(env);
  } catch (err) {
    if (err instanceof ConfigErrors) return err.errors.map((e) => e.message);
    throw err;
  }
  return [];
}

describe('valid settings', () => {
  test('nothing set: one server at the default URL, as before', () => {
    expect(parseRedisSettings({})).toEqual({ topology: { kind: 'single', host: '127.0.0.1', port: 6379, db: 0 } });
  });

  test('REDIS_URL alone keeps its user, password, db and rediss:// TLS; the variables override the URL', () => {
    expect(parseRedisSettings({ REDIS_URL: 'rediss://u:p%40ss@redis.example:6380/3' })).toEqual({
      topology: { kind: 'single', host: 'redis.example', port: 6380, db: 3 },
      username: 'u',
      password: 'p@ss',
      tls: {},
    });
    expect(parseRedisSettings({ REDIS_URL: 'redis://u:p@h:1', REDIS_USERNAME: 'v', REDIS_PASSWORD: 'q' })).toMatchObject({ username: 'v', password: 'q' });
    expect(parseRedisSettings({ REDIS_URL: 'redis://u:p@h:1', REDIS_PASSWORD_FILE: pw })).toEqual({ topology: { kind: 'single', host: 'h', port: 1, db: 0 }, username: 'u', passwordFile: pw });
  });

  test('Sentinel with its own credentials; TLS with a CA, a client certificate and a server name', () => {
    const s = parseRedisSettings({
      REDIS_SENTINELS: 's1:26379, [::1]:26380',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_SENTINEL_USERNAME: 'sentinel-user',
      REDIS_SENTINEL_PASSWORD: 'sp',
      REDIS_PASSWORD: 'dp',
      REDIS_TLS: 'true',
      REDIS_TLS_CA_FILE: ca,
      REDIS_TLS_CERT_FILE: ca,
      REDIS_TLS_KEY_FILE: key,
      REDIS_TLS_SERVERNAME: 'redis.internal',
    });
    expect(s).toEqual({
      topology: { kind: 'sentinel', sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }], masterName: 'mymaster', sentinelUsername: 'sentinel-user', sentinelPassword: 'sp' },
      password: 'dp',
      tls: { caFile: ca, certFile: ca, keyFile: key, servername: 'redis.internal' },
    });
    expect(describeRedis(s)).toBe('sentinel mymaster@s1:26379,::1:26380 (tls)');
  });

  test('Cluster seed nodes; REDIS_TLS=true with the default URL', () => {
    const s = parseRedisSettings({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7000', REDIS_TLS: 'yes', REDIS_USERNAME: 'app', REDIS_PASSWORD_FILE: pw });
    expect(s).toEqual({ topology: { kind: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7000 }] }, username: 'app', passwordFile: pw, tls: {} });
  });

  test('node lists: host:port each once', () => {
    expect(parseNodeList('a:1,b:2')).toEqual([{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
    for (const bad of ['a', 'a:0', 'a:65536', 'a:1,,b:2', 'a:1,a:1', ':1', 'a:x', '[::1]', '::1:6379', 'a:1 b:2']) expect(parseNodeList(bad)).toBeUndefined();
  });
});

describe('refused combinations: exit code 2 with a message naming the variables', () => {
  const sentinel = { REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_MASTER: 'm' };
  const cases: Array<[string, Env, RegExp[]]> = [
    ['REDIS_URL with REDIS_SENTINELS', { REDIS_URL: 'redis://h:6379', ...sentinel }, [/^REDIS_URL with REDIS_SENTINELS: set one topology only/]],
    ['REDIS_URL with REDIS_CLUSTER_NODES (a db index has no place in a cluster)', { REDIS_URL: 'redis://h:6379/2', REDIS_CLUSTER_NODES: 'a:1' }, [/^REDIS_URL with REDIS_CLUSTER_NODES: .*no database index/]],
    ['REDIS_SENTINELS with REDIS_CLUSTER_NODES', { ...sentinel, REDIS_CLUSTER_NODES: 'a:1' }, [/^REDIS_SENTINELS with REDIS_CLUSTER_NODES: set one topology only/]],
    ['REDIS_SENTINELS without REDIS_SENTINEL_MASTER', { REDIS_SENTINELS: 's:26379' }, [/^REDIS_SENTINELS with REDIS_SENTINEL_MASTER: REDIS_SENTINELS needs REDIS_SENTINEL_MASTER/]],
    ['REDIS_SENTINEL_MASTER without REDIS_SENTINELS', { REDIS_SENTINEL_MASTER: 'm' }, [/^REDIS_SENTINEL_MASTER with REDIS_SENTINELS: REDIS_SENTINEL_MASTER needs REDIS_SENTINELS/]],
    ['REDIS_SENTINEL_PASSWORD without REDIS_SENTINELS', { REDIS_SENTINEL_PASSWORD: 'x' }, [/^REDIS_SENTINEL_PASSWORD with REDIS_SENTINELS: .*only used with REDIS_SENTINELS/]],
    ['REDIS_SENTINEL_USERNAME without its password', { ...sentinel, REDIS_SENTINEL_USERNAME: 'u' }, [/^REDIS_SENTINEL_USERNAME with REDIS_SENTINEL_PASSWORD: an ACL user needs its password/]],
    ['malformed REDIS_SENTINELS', { REDIS_SENTINELS: 's1,s2:1', REDIS_SENTINEL_MASTER: 'm' }, [/^REDIS_SENTINELS="s1,s2:1" is invalid: expected a comma separated list of host:port/]],
    ['malformed REDIS_CLUSTER_NODES (a duplicate)', { REDIS_CLUSTER_NODES: 'a:1,a:1' }, [/^REDIS_CLUSTER_NODES="a:1,a:1" is invalid: expected .*each once/]],
    ['REDIS_PASSWORD with REDIS_PASSWORD_FILE', { REDIS_PASSWORD: 'x', REDIS_PASSWORD_FILE: pw }, [/^REDIS_PASSWORD with REDIS_PASSWORD_FILE: set one of them/]],
    ['an unreadable REDIS_PASSWORD_FILE', { REDIS_PASSWORD_FILE: join(dir, 'missing') }, [/^REDIS_PASSWORD_FILE=".*missing" is invalid: expected a readable file \(ENOENT/]],
    ['REDIS_TLS_CERT_FILE without REDIS_TLS_KEY_FILE', { REDIS_TLS: 'true', REDIS_TLS_CERT_FILE: ca }, [/^REDIS_TLS_CERT_FILE with REDIS_TLS_KEY_FILE: a client certificate needs its key/]],
    ['REDIS_TLS_KEY_FILE without REDIS_TLS_CERT_FILE', { REDIS_TLS: 'true', REDIS_TLS_KEY_FILE: key }, [/^REDIS_TLS_CERT_FILE with REDIS_TLS_KEY_FILE/]],
    ['TLS files with REDIS_TLS=false', { REDIS_TLS: 'false', REDIS_TLS_CA_FILE: ca }, [/^REDIS_TLS_CA_FILE with REDIS_TLS: TLS settings without TLS \(REDIS_TLS=false\)/]],
    ['TLS files with a redis:// URL and REDIS_TLS unset', { REDIS_URL: 'redis://h:6379', REDIS_TLS_CA_FILE: ca, REDIS_TLS_SERVERNAME: 'x' }, [/^REDIS_TLS_CA_FILE with REDIS_TLS_SERVERNAME with REDIS_TLS: .*REDIS_URL is redis:\/\/ \(no TLS\).*set REDIS_TLS=true or use rediss:\/\//]],
    ['TLS files with a Sentinel and REDIS_TLS unset', { ...sentinel, REDIS_TLS_CA_FILE: ca }, [/^REDIS_TLS_CA_FILE with REDIS_TLS: TLS settings without TLS \(REDIS_TLS is unset\): set REDIS_TLS=true$/]],
    ['REDIS_TLS=false with a rediss:// URL', { REDIS_URL: 'rediss://h:6379', REDIS_TLS: 'false' }, [/^REDIS_TLS with REDIS_URL: REDIS_TLS=false contradicts a rediss:\/\/ REDIS_URL/]],
    ['REDIS_TLS not a boolean', { REDIS_TLS: 'maybe' }, [/^REDIS_TLS="maybe" is invalid: expected true or false/]],
    ['a CA file that is not PEM', { REDIS_TLS: 'true', REDIS_TLS_CA_FILE: notPem }, [/^REDIS_TLS_CA_FILE: not a PEM certificate/]],
    ['a key file that is not a key', { REDIS_TLS: 'true', REDIS_TLS_CERT_FILE: ca, REDIS_TLS_KEY_FILE: ca }, [/^REDIS_TLS_KEY_FILE: not a PEM private key/]],
    ['a key that does not belong to the certificate', { REDIS_TLS: 'true', REDIS_TLS_CERT_FILE: ca, REDIS_TLS_KEY_FILE: otherKey }, [/^REDIS_TLS_CERT_FILE with REDIS_TLS_KEY_FILE: the key does not belong to the certificate/]],
    ['an unreadable CA file', { REDIS_TLS: 'true', REDIS_TLS_CA_FILE: join(dir, 'nope.crt') }, [/^REDIS_TLS_CA_FILE=".*nope\.crt" is invalid: expected a readable file/]],
    ['a malformed REDIS_URL', { REDIS_URL: 'http://h' }, [/^REDIS_URL="http:\/\/h" is invalid/]],
  ];
  test.each(cases)('%s', (_name, env, expected) => {
    const messages = errorsOf(env);
    expect(messages).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(messages[i]).toMatch(re));
  });

  test('every problem at once', () => {
    const messages = errorsOf({ REDIS_URL: 'redis://h', REDIS_CLUSTER_NODES: 'x', REDIS_PASSWORD: 'a', REDIS_PASSWORD_FILE: pw, REDIS_TLS_CERT_FILE: ca });
    expect(messages.map((m) => m.split(/[:=]/)[0])).toEqual(['REDIS_CLUSTER_NODES', 'REDIS_URL with REDIS_CLUSTER_NODES', 'REDIS_PASSWORD with REDIS_PASSWORD_FILE', 'REDIS_TLS_CERT_FILE with REDIS_TLS', 'REDIS_TLS_CERT_FILE with REDIS_TLS_KEY_FILE']);
  });
});

describe('credentials read at each connect', () => {
  test('the password file is read again each time; an unreadable file keeps the last value and is reported once', () => {
    const f = file('rotating', 'one\n');
    const reported: string[] = [];
    const c = new RedisCredentials(parseRedisSettings({ REDIS_PASSWORD_FILE: f }), (p) => reported.push(p));
    expect(c.password()).toBe('one');
    writeFileSync(f, 'two');
    expect(c.password()).toBe('two');
    rmSync(f);
    expect(c.password()).toBe('two');
    expect(c.password()).toBe('two');
    expect(reported).toEqual([f]);
  });

  test('TLS options carry the files’ contents and the server name', () => {
    const c = new RedisCredentials(parseRedisSettings({ REDIS_URL: 'rediss://h:1', REDIS_TLS_CA_FILE: ca, REDIS_TLS_SERVERNAME: 'n' }));
    expect(c.tls()).toEqual({ ca: expect.stringContaining('BEGIN CERTIFICATE'), servername: 'n' });
    expect(new RedisCredentials(redisSettingsFromUrl('redis://h:1')).tls()).toBeUndefined();
  });
});

describe('settings passed in code (createWorker({ redis }))', () => {
  test('valid settings pass unchanged', () => {
    const s = parseRedisSettings({ REDIS_CLUSTER_NODES: 'a:1' });
    expect(checkRedisSettings('w', 'redis', s)).toBe(s);
  });
  test.each([
    [null, TypeError, /^w: option redis must be Redis settings/],
    [{}, RangeError, /^w: option redis\.topology=an undefined is invalid/],
    [{ topology: { kind: 'ring' } }, RangeError, /option redis\.topology\.kind="ring" is invalid: expected 'single', 'sentinel' or 'cluster'/],
    [{ topology: { kind: 'cluster', nodes: [{ host: 'a', port: 70000 }] } }, RangeError, /option redis\.topology\.nodes\[0\]\.port=70000 is invalid: expected an integer from 1 to 65535/],
    [{ topology: { kind: 'cluster', nodes: [{ host: 'a', port: 1 }], db: 2 } }, RangeError, /option redis\.topology\.db=2 is invalid: expected no db index/],
    [{ topology: { kind: 'sentinel', sentinels: [{ host: 'a', port: 1 }] } }, RangeError, /option redis\.topology\.masterName/],
    [{ topology: { kind: 'single', host: 'h', port: 1, db: 0 }, password: 'x', passwordFile: '/f' }, RangeError, /option redis\.password=.* expected undefined when passwordFile is set/],
    [{ topology: { kind: 'single', host: 'h', port: 1, db: 0 }, tls: { certFile: '/c' } }, RangeError, /option redis\.tls\.keyFile=an undefined is invalid: expected set together/],
  ])('%j', (value, type, message) => {
    expect(() => checkRedisSettings('w', 'redis', value)).toThrow(type);
    expect(() => checkRedisSettings('w', 'redis', value)).toThrow(message);
  });
});
