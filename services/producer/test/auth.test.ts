/**
 * issue 18, must-show 2: producer authentication and authorization.
 * - AUTH_MODE=token on the real binary (dist/main.js, shared Redis, unique streams): 401 without a token
 *   and with a wrong one (WWW-Authenticate), 403 outside the client's streams, 202 with a valid token and
 *   for a glob; a token rotated by rewriting the file, without a restart; a malformed rewrite keeps the
 *   previous file and logs the line; a malformed file stops start-up naming the line; /livez, /readyz
 *   open; the tokens never appear in the logs; publish_rejected_total by reason.
 * - AUTH_MODE=jwt (in-process app, real HTTP, keys made here with jose): the right key accepted, a wrong
 *   key, an expired token, another audience or issuer refused; the streams claim and its default.
 * - RATE_LIMIT_PER_S: 429 with Retry-After past the rate, per client.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { createLogger, createRedis, createRegistry } from '@stream-workers/core';
import { ProducerApp } from '../src/app';
import { JwtAuthenticator, TokenFileAuthenticator, type Authenticator } from '../src/auth';
import { SHARED_REDIS_URL, deleteKeys, freePort, uniquePrefix } from '../../../test-support/redis';
import { startService, waitFor, type ServiceProcess } from '../../../test-support/process';

const silent = createLogger({ service: 'auth-test', level: 'silent' });
const prefix = uniquePrefix('producer-auth');
const orders = `${prefix}:orders`;
const other = `${prefix}:other`;
const globbed = `${prefix}:o-1`;
const redis = createRedis({ url: SHARED_REDIS_URL, role: 'command' });
const dir = mkdtempSync(join(tmpdir(), 'producer-auth-'));
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const event = JSON.stringify({ source: 'auth-test', type: 't', data: 1 });

afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

async function post(base: string, stream: string, token?: string): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/v1/streams/${encodeURIComponent(stream)}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    body: event,
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe('AUTH_MODE=token on the real producer binary', () => {
  const tokenA = randomBytes(24).toString('base64url');
  const tokenB = randomBytes(24).toString('base64url');
  const file = join(dir, 'tokens');
  let svc: ServiceProcess;
  let base: string;

  beforeAll(async () => {
    writeFileSync(file, `# name  sha256(token)  streams\nshop ${sha(tokenA)} ${orders},${prefix}:o-*\n`);
    const port = await freePort();
    svc = startService('producer', { REDIS_URL: SHARED_REDIS_URL, PORT: String(port), STREAMS: `${orders},${other},${globbed}`, AUTH_MODE: 'token', API_TOKENS_FILE: file });
    await svc.waitForLog((l) => l.msg === 'producer started');
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    svc.kill();
    await svc.exited;
  });

  test('401 without a token and with a wrong one (WWW-Authenticate, problem+json), 403 outside the list, 202 with the token', async () => {
    const none = await post(base, orders);
    expect([none.status, none.headers.get('www-authenticate'), none.headers.get('content-type')]).toEqual([401, 'Bearer realm="stream-workers"', 'application/problem+json; charset=utf-8']);
    const wrong = await post(base, orders, 'not-the-token');
    expect([wrong.status, wrong.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="stream-workers", error="invalid_token"']);
    const forbidden = await post(base, other, tokenA);
    expect([forbidden.status, forbidden.body.title, forbidden.body.detail]).toEqual([403, 'Forbidden', `client shop may not write to stream "${other}"`]);
    expect((await post(base, orders, tokenA)).status).toBe(202);
    expect((await post(base, globbed, tokenA)).status).toBe(202);
    expect(await redis.xlen(orders)).toBe(1);
    expect(await redis.xlen(other)).toBe(0);
  });

  test('/livez and /readyz answer without a token; publish_rejected_total counts unauthorized and forbidden', async () => {
    expect((await fetch(`${base}/livez`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/stream_workers_publish_rejected_total\{reason="unauthorized"\} 2/);
    expect(metrics).toMatch(/stream_workers_publish_rejected_total\{reason="forbidden"\} 1/);
  });

  test('a token rotated by rewriting the file is used without a restart; a malformed rewrite keeps the previous tokens and names the line', async () => {
    const pid = svc.proc.pid;
    writeFileSync(file, `shop ${sha(tokenB)} ${orders}\n`);
    await waitFor(async () => (await post(base, orders, tokenB)).status === 202, 30_000, 100, 'the new token accepted');
    expect((await post(base, orders, tokenA)).status).toBe(401);
    writeFileSync(file, `shop ${sha(tokenB)} ${orders}\nbroken-line-without-hash\n`);
    const warn = await svc.waitForLog((l) => l.msg === 'API tokens file rejected; keeping the previous tokens');
    expect(warn.reason).toBe(`${file}:2: expected 3 columns (name, sha256 of the token, streams), found 1`);
    expect((await post(base, orders, tokenB)).status).toBe(202);
    expect(svc.proc.pid).toBe(pid);
    expect(svc.proc.exitCode).toBeNull();
  });

  test('no token, no token hash and no Authorization header value is ever logged', () => {
    const text = JSON.stringify(svc.logs) + svc.stderr();
    for (const secret of [tokenA, tokenB, 'not-the-token', sha(tokenA), sha(tokenB)]) expect(text.includes(secret)).toBe(false);
    expect(/authorization/i.test(text)).toBe(false);
  });
});

test('a malformed token file stops start-up with exit code 2, naming the file and the line', async () => {
  const bad = join(dir, 'bad-tokens');
  writeFileSync(bad, `ok ${sha('x')} events\n\n# comment\nshop 1234 events\n`);
  const svc = startService('producer', { REDIS_URL: SHARED_REDIS_URL, PORT: '0', AUTH_MODE: 'token', API_TOKENS_FILE: bad });
  const { code } = await svc.exited;
  expect(code).toBe(2);
  expect(svc.stderr()).toContain(`${bad}:4: client shop: the token hash must be 64 hex digits (sha256), not the token itself`);
});

async function inProcess(authenticator: Authenticator, rateLimitPerS = 0): Promise<{ app: ProducerApp; base: string }> {
  const app = new ProducerApp({ redis, registry: createRegistry({ processMetrics: false }), logger: silent, port: 0, host: '127.0.0.1', streams: [orders, other], authenticator, rateLimitPerS });
  return { app, base: `http://127.0.0.1:${await app.listen()}` };
}

describe('AUTH_MODE=jwt (keys made here with jose; in-process app, real HTTP)', () => {
  const issuer = 'https://kubernetes.default.svc.cluster.local';
  const audience = 'stream-workers';
  let good: PrivateKey;
  let wrong: PrivateKey;
  let jwk: JWK;
  const sign = (key: PrivateKey, claims: Record<string, unknown>, opts: { aud?: string; iss?: string; exp?: number | string } = {}) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setSubject('system:serviceaccount:shop:producer').setIssuer(opts.iss ?? issuer).setAudience(opts.aud ?? audience).setIssuedAt().setExpirationTime(opts.exp ?? '10m').sign(key);

  beforeAll(async () => {
    const kp = await generateKeyPair('ES256');
    good = kp.privateKey;
    wrong = (await generateKeyPair('ES256')).privateKey;
    jwk = { ...(await exportJWK(kp.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  });

  test('JWKS file: the right key accepted; a wrong key, expired, another audience or issuer refused (401); streams claim → 403 outside it', async () => {
    const auth = new JwtAuthenticator({ jwksFile: join(dir, 'jwks.json'), issuer, audience, logger: silent, defaultStreams: [other] });
    const { app, base } = await inProcess(auth);
    try {
      expect((await post(base, orders, await sign(good, { streams: [orders] }))).status).toBe(202);
      const refused = {
        'wrong key': await sign(wrong, { streams: [orders] }),
        expired: await sign(good, { streams: [orders] }, { exp: Math.floor(Date.now() / 1000) - 120 }),
        'other audience': await sign(good, { streams: [orders] }, { aud: 'someone-else' }),
        'other issuer': await sign(good, { streams: [orders] }, { iss: 'https://evil.example' }),
        'not a JWT': 'abc.def.ghi',
      };
      const answers: Record<string, [number, unknown]> = {};
      for (const [what, token] of Object.entries(refused)) {
        const r = await post(base, orders, token);
        answers[what] = [r.status, r.body.detail];
      }
      expect(answers).toEqual({
        'wrong key': [401, 'the JWT is not valid: the signature does not verify'],
        expired: [401, 'the JWT is not valid: it has expired'],
        'other audience': [401, 'the JWT is not valid: claim aud does not match'],
        'other issuer': [401, 'the JWT is not valid: claim iss does not match'],
        'not a JWT': [401, expect.stringMatching(/^the JWT is not valid: /)],
      });
      expect((await post(base, other, await sign(good, { streams: orders }))).status).toBe(403);
      // A service-account token carries no streams claim: JWT_DEFAULT_STREAMS applies.
      expect((await post(base, other, await sign(good, {}))).status).toBe(202);
      expect((await post(base, orders, await sign(good, {}))).status).toBe(403);
    } finally {
      await app.close();
    }
  });

  test('JWKS URL (a real HTTP server serving the keys): the right key accepted, a wrong key refused', async () => {
    const jwks: Server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const auth = new JwtAuthenticator({ jwksUrl: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/openid/v1/jwks`, issuer, audience, logger: silent });
    const { app, base } = await inProcess(auth);
    try {
      expect((await post(base, orders, await sign(good, { streams: [orders] }))).status).toBe(202);
      expect((await post(base, orders, await sign(wrong, { streams: [orders] }))).status).toBe(401);
    } finally {
      await app.close();
      await new Promise<void>((r) => jwks.close(() => r()));
    }
  });
});

test('RATE_LIMIT_PER_S: past the rate a client gets 429 with Retry-After (problem+json); another client is not slowed', async () => {
  const file = join(dir, 'rate-tokens');
  writeFileSync(file, `fast ${sha('t-fast')} ${orders}\ncalm ${sha('t-calm')} ${orders}\n`);
  const registry = createRegistry({ processMetrics: false });
  const app = new ProducerApp({ redis, registry, logger: silent, port: 0, host: '127.0.0.1', streams: [orders], authenticator: new TokenFileAuthenticator(file, silent), rateLimitPerS: 1 });
  const base = `http://127.0.0.1:${await app.listen()}`;
  try {
    // Bucket of 1 request, refilled at 1/s: of 30 requests sent at once, at most a few pass.
    const answers = await Promise.all(Array.from({ length: 30 }, () => post(base, orders, 't-fast')));
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.status === 202 || a.status === 429)).toBe(true);
    for (const a of limited) {
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(a.body.title).toBe('Too Many Requests');
    }
    expect((await post(base, orders, 't-calm')).status).toBe(202);
    expect(await registry.getSingleMetricAsString('stream_workers_publish_rejected_total')).toContain(`reason="rate_limited"} ${limited.length}`);
  } finally {
    await app.close();
  }
});
