/**
 * The environment of the worker processes the autoscaler starts with TARGET_KIND=local. They inherit
 * the autoscaler's Redis variables (topology, TLS files). Without WORKER_REDIS_USERNAME /
 * WORKER_REDIS_PASSWORD_FILE they connect as the autoscaler does (its user and password or password
 * file: fine without ACL users; a password file is re-read by the workers too). With them (Redis ACL
 * users, one per service), the autoscaler's credentials are taken out (of REDIS_URL too) and the
 * worker's own user and password file put in, so the autoscaler's credentials never reach a worker.
 */
import { accessSync, constants } from 'node:fs';
import { ConfigError, type Env } from '@stream-workers/core';

/** What the worker environment is built from (the autoscaler's parsed config). */
export interface WorkerEnvSettings {
  stream: string;
  group: string;
  workerRedisUsername?: string | undefined;
  workerRedisPasswordFile?: string | undefined;
}

/** Variables of the autoscaler's own Redis user, never handed to a worker that has its own. */
const OWN_CREDENTIALS = ['REDIS_USERNAME', 'REDIS_PASSWORD', 'REDIS_PASSWORD_FILE', 'WORKER_REDIS_USERNAME', 'WORKER_REDIS_PASSWORD_FILE'];

/**
 * The workers inherit `parent` (SIM_WORK_MS, CLAIM_IDLE_MS, LOG_LEVEL, …) with the autoscaler's stream,
 * group and Redis, and their own Redis user when one is configured. Throws a ConfigError when
 * WORKER_REDIS_PASSWORD_FILE cannot be read (at the autoscaler's start-up, not in each worker).
 */
export function localWorkerEnv(parent: Env, s: WorkerEnvSettings): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...parent, STREAM: s.stream, GROUP: s.group };
  delete env.WORKER_REDIS_USERNAME;
  delete env.WORKER_REDIS_PASSWORD_FILE;
  if (s.workerRedisUsername === undefined && s.workerRedisPasswordFile === undefined) return env;
  for (const k of OWN_CREDENTIALS) delete env[k];
  if (s.workerRedisPasswordFile !== undefined) {
    try {
      accessSync(s.workerRedisPasswordFile, constants.R_OK);
    } catch (err) {
      throw new ConfigError('WORKER_REDIS_PASSWORD_FILE', s.workerRedisPasswordFile, `a readable file (${(err as Error).message})`);
    }
    env.REDIS_PASSWORD_FILE = s.workerRedisPasswordFile;
  }
  if (s.workerRedisUsername !== undefined) env.REDIS_USERNAME = s.workerRedisUsername;
  if (parent.REDIS_URL?.trim()) {
    const url = new URL(parent.REDIS_URL.trim());
    url.username = '';
    url.password = '';
    env.REDIS_URL = url.toString();
  }
  return env;
}
