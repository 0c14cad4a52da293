/**
 * The environment of the worker processes started with TARGET_KIND=local (issue 18): with
 * WORKER_REDIS_USERNAME / WORKER_REDIS_PASSWORD_FILE the autoscaler's own credentials never reach a
 * worker. (The processes themselves run as their ACL users in charts/test/redis-acl.test.ts.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@stream-workers/core';
import { autoscalerConfig } from '../src/config';
import { localWorkerEnv } from '../src/targets/worker-env';

const dir = mkdtempSync(join(tmpdir(), 'worker-env-'));
const ownPw = join(dir, 'autoscaler-pw');
const workerPw = join(dir, 'worker-pw');
writeFileSync(ownPw, 'scaler-secret\n');
writeFileSync(workerPw, 'worker-secret\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const parent = { REDIS_URL: 'redis://10.0.0.5:6380/2', REDIS_USERNAME: 'autoscaler', REDIS_PASSWORD_FILE: ownPw, SIM_WORK_MS: '7', STREAM: 'orders', TARGET_KIND: 'local' };

test('without worker credentials the workers connect as the autoscaler does (its URL, user and password file, re-read by them too)', () => {
  const env = localWorkerEnv(parent, autoscalerConfig.parse(parent));
  expect(env.REDIS_URL).toBe('redis://10.0.0.5:6380/2');
  expect(env.REDIS_USERNAME).toBe('autoscaler');
  expect(env.REDIS_PASSWORD_FILE).toBe(ownPw);
  expect(JSON.stringify(env)).not.toMatch(/scaler-secret/);
  expect(env).toMatchObject({ STREAM: 'orders', GROUP: 'workers', SIM_WORK_MS: '7' });
});

test("with WORKER_REDIS_USERNAME / WORKER_REDIS_PASSWORD_FILE the workers get their own user and none of the autoscaler's credentials", () => {
  const withWorker = { ...parent, REDIS_URL: 'redis://autoscaler:also-secret@10.0.0.5:6380/2', WORKER_REDIS_USERNAME: 'worker', WORKER_REDIS_PASSWORD_FILE: workerPw };
  const env = localWorkerEnv(withWorker, autoscalerConfig.parse(withWorker));
  expect(env.REDIS_URL).toBe('redis://10.0.0.5:6380/2');
  expect(env).toMatchObject({ REDIS_USERNAME: 'worker', REDIS_PASSWORD_FILE: workerPw, STREAM: 'orders', GROUP: 'workers', SIM_WORK_MS: '7' });
  expect(env.REDIS_PASSWORD).toBeUndefined();
  expect(env.WORKER_REDIS_USERNAME).toBeUndefined();
  expect(JSON.stringify(env)).not.toMatch(/scaler-secret|also-secret|autoscaler-pw/);
});

test('an unreadable WORKER_REDIS_PASSWORD_FILE stops start-up naming the variable', () => {
  const bad = { ...parent, WORKER_REDIS_USERNAME: 'worker', WORKER_REDIS_PASSWORD_FILE: join(dir, 'missing') };
  expect(() => localWorkerEnv(bad, autoscalerConfig.parse(bad))).toThrow(ConfigError);
  expect(() => localWorkerEnv(bad, autoscalerConfig.parse(bad))).toThrow(/WORKER_REDIS_PASSWORD_FILE/);
});
