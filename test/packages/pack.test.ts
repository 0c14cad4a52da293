/**
 * The published packages as a user gets them: `npm pack` of @stream-workers/core, worker, producer
 * and nestjs; the tarballs installed into a fresh project in a temp dir outside the workspace (its
 * third-party dependencies from the npm registry, nothing hoisted from this repository); a strict
 * TypeScript compile (this repository's tsc, `skipLibCheck: false`) of a CommonJS, an ES module and a
 * NestJS consumer; each run against the shared Redis (unique stream names), publishing and processing
 * events. Needs `tsc -b` first and the npm registry (or a warm npm cache).
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

jest.setTimeout(600_000);

const prefix = uniquePrefix('pack');
let dir: string;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(SHARED_REDIS_URL);
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'stream-workers-pack-')));
  expect(dir.startsWith(REPO_ROOT)).toBe(false);
  const packed = await run('npm', ['pack', ...PACKAGES.flatMap((p) => ['-w', p]), '--pack-destination', dir, '--json'], { cwd: REPO_ROOT, maxBuffer: 64 << 20 });
  const tarballs = (JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>).map((t) => {
    // `files` holds what runs: no sources, tests, maps or build info.
    const bad = t.files.map((f) => f.path).filter((p) => !/^(dist\/.*\.(js|d\.ts|json)|lua\/[a-z-]+\.lua|package\.json|README\.md)$/.test(p));
    expect({ tarball: t.filename, bad }).toEqual({ tarball: t.filename, bad: [] });
    return `./${t.filename}`;
  });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pack-consumer', private: true, type: 'commonjs' }));
  // The tarballs and third-party packages from the registry; the npm cache is fine.
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, '@types/node@~20.19.0', `@nestjs/common@${NEST}`, `@nestjs/core@${NEST}`, 'reflect-metadata@^0.2.2', 'rxjs@^7.8.2', 'prom-client@^15.1.3'],
    { cwd: dir, maxBuffer: 64 << 20 },
  );
  cpSync(join(__dirname, 'consumer'), dir, { recursive: true });
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false,
        types: ['node'], experimentalDecorators: true, emitDecoratorMetadata: true, outDir: 'out', noEmitOnError: true,
      },
      include: ['*.cts', '*.mts'],
    }),
  );
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

async function consume(file: string, stream: string): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [join('out', file)], {
    cwd: dir,
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
