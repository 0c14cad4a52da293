/**
 * The published packages as a user gets them: `npm pack` of @stream-workers/core, worker, producer
 * and nestjs; the tarballs installed into a fresh project in a temp dir outside the workspace (its
 * third-party dependencies from the npm registry, nothing hoisted from this repository); a strict
 * TypeScript compile (this repository's tsc, `skipLibCheck: false`) of a CommonJS, an ES module and a
 * NestJS consumer; each run against the shared Redis (unique stream names), publishing and processing
 * events. The NestJS consumer runs once more in a second fresh project with NestJS 12 (ES modules
 * only, loaded by the CommonJS @stream-workers/nestjs through Node's require(esm), 20.19 and later).
 * Needs `tsc -b` first and the npm registry (or a warm npm cache).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Redis from 'ioredis';
import { REPO_ROOT } from '../../test-support/process';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../test-support/redis';

const run = promisify(execFile);
const PACKAGES = ['services/core', 'services/worker', 'services/producer', 'services/nestjs'];
const EVENTS = 200;
const NEST = '^11.1.0';
const NEST_NEXT = '^12.0.0';
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false,
    types: ['node'], experimentalDecorators: true, emitDecoratorMetadata: true, outDir: 'out', noEmitOnError: true,
  },
  include: ['*.cts', '*.mts'],
};

jest.setTimeout(600_000);

const prefix = uniquePrefix('pack');
let dir: string;
let tarballs: string[];
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(SHARED_REDIS_URL);
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'stream-workers-pack-')));
  expect(dir.startsWith(REPO_ROOT)).toBe(false);
  const packed = await run('npm', ['pack', ...PACKAGES.flatMap((p) => ['-w', p]), '--pack-destination', dir, '--json'], { cwd: REPO_ROOT, maxBuffer: 64 << 20 });
  tarballs = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>).map((t) => {
    // `files` holds what runs: no sources, tests, maps or build info.
    const bad = t.files.map((f) => f.path).filter((p) => !/^(dist\/.*\.(js|d\.ts|json)|lua\/[a-z-]+\.lua|package\.json|README\.md)$/.test(p));
    expect({ tarball: t.filename, bad }).toEqual({ tarball: t.filename, bad: [] });
    return join(dir, t.filename);
  });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pack-consumer', private: true, type: 'commonjs' }));
  // The tarballs and third-party packages from the registry; the npm cache is fine.
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, '@types/node@~20.19.0', `@nestjs/common@${NEST}`, `@nestjs/core@${NEST}`, 'reflect-metadata@^0.2.2', 'rxjs@^7.8.2', 'prom-client@^15.1.3'],
    { cwd: dir, maxBuffer: 64 << 20 },
  );
  cpSync(join(__dirname, 'consumer'), dir, { recursive: true });
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG));
});

afterAll(async () => {
  await deleteKeys(redis, prefix);
  await redis.quit();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('installed from the tarballs alone: nothing resolves into the repository', () => {
  for (const name of ['core', 'worker', 'producer', 'nestjs']) {
    const pkg = JSON.parse(readFileSync(join(dir, 'node_modules', '@stream-workers', name, 'package.json'), 'utf8')) as { private?: boolean; version: string };
    expect(pkg.private).toBeUndefined();
    expect(pkg.version).toMatch(/^0\.\d+\.\d+$/);
  }
  const resolved = require.resolve('@stream-workers/worker', { paths: [dir] });
  expect(resolved.startsWith(dir)).toBe(true);
});

test('strict TypeScript compiles the CommonJS, ESM and NestJS consumers against the packages', async () => {
  const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const out = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir }).catch((e: { stdout?: string }) => e);
  expect((out as { stdout?: string }).stdout ?? '').toBe('');
});

async function consume(file: string, stream: string, cwd = dir): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [join('out', file)], {
    cwd,
    env: { PATH: process.env.PATH ?? '', REDIS_URL: SHARED_REDIS_URL, STREAM: stream, EVENTS: String(EVENTS) },
    timeout: 120_000,
  });
  const last = stdout.trim().split('\n').pop()!;
  return JSON.parse(last) as Record<string, unknown>;
}

test('a CommonJS consumer publishes and processes events (createWorker with only the four required options; express not loaded)', async () => {
  const r = await consume('cjs-consumer.cjs', `${prefix}:cjs`);
  console.log(`packed CommonJS consumer: ${JSON.stringify(r)}`);
  expect(r).toEqual({ consumer: 'cjs', processed: EVENTS, expressLoaded: false, invalid: 'type' });
  expect(await redis.xlen(`${prefix}:cjs`)).toBe(EVENTS);
});

test('an ES module consumer publishes and processes events (named imports of the CommonJS packages)', async () => {
  const r = await consume('esm-consumer.mjs', `${prefix}:esm`);
  console.log(`packed ESM consumer: ${JSON.stringify(r)}`);
  expect(r).toEqual({ consumer: 'esm', processed: EVENTS, expressLoaded: false, brand: true });
});

test(`a NestJS ${NEST} app with @stream-workers/nestjs routes both schema versions and shows the metrics`, async () => {
  const r = await consume('nest-consumer.cjs', `${prefix}:nest`);
  console.log(`packed NestJS consumer: ${JSON.stringify(r)}`);
  expect(r).toEqual({ consumer: 'nest', v1: EVENTS / 2, v2: EVENTS / 2, metrics: true });
});

describe(`NestJS ${NEST_NEXT} as the peer`, () => {
  let dir12: string;

  beforeAll(async () => {
    // A project of its own (not under the first one: nothing may resolve to its NestJS 11).
    dir12 = realpathSync(mkdtempSync(join(tmpdir(), 'stream-workers-pack-nest12-')));
    writeFileSync(join(dir12, 'package.json'), JSON.stringify({ name: 'pack-consumer-nest12', private: true, type: 'commonjs' }));
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, '@types/node@~20.19.0', `@nestjs/common@${NEST_NEXT}`, `@nestjs/core@${NEST_NEXT}`, 'reflect-metadata@^0.2.2', 'rxjs@^7.8.2', 'prom-client@^15.1.3'],
      { cwd: dir12, maxBuffer: 64 << 20 },
    );
    cpSync(join(__dirname, 'consumer', 'nest-consumer.cts'), join(dir12, 'nest-consumer.cts'));
    writeFileSync(join(dir12, 'tsconfig.json'), JSON.stringify(TSCONFIG));
  });

  afterAll(() => {
    if (dir12) rmSync(dir12, { recursive: true, force: true });
  });

  test('the installed NestJS is 12.x, and npm accepted it as the peer of @stream-workers/nestjs', async () => {
    const core = JSON.parse(readFileSync(join(dir12, 'node_modules', '@nestjs', 'core', 'package.json'), 'utf8')) as { version: string };
    expect(core.version).toMatch(/^12\./);
    // `npm ls` exits non-zero on an invalid or missing peer.
    const ls = await run('npm', ['ls', '@nestjs/core', '@nestjs/common', '--json'], { cwd: dir12, maxBuffer: 16 << 20 }).catch((e: { stdout?: string; code?: number }) => e);
    expect((ls as { code?: number }).code ?? 0).toBe(0);
  });

  test('the NestJS consumer compiles (strict) and routes both schema versions on NestJS 12', async () => {
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const out = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir12 }).catch((e: { stdout?: string }) => e);
    expect((out as { stdout?: string }).stdout ?? '').toBe('');
    const r = await consume('nest-consumer.cjs', `${prefix}:nest12`, dir12);
    console.log(`packed NestJS 12 consumer: ${JSON.stringify(r)}`);
    expect(r).toEqual({ consumer: 'nest', v1: EVENTS / 2, v2: EVENTS / 2, metrics: true });
  });
});
