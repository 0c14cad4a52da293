import { ORDERS_STREAM } from './stream';

/** The example's settings, parsed from the environment by main.ts (the one place that reads it). */
export interface ExampleConfig {
  /** Which service this process is. */
  role: 'orders' | 'inventory' | 'notifications';
  redisUrl: string;
  /** The orders stream (a unique name per test run). */
  stream: string;
  /** HTTP port; 0 picks a free one (logged). */
  port: number;
  /** Consumer name in the groups. */
  consumer: string;
  /** Deliveries before a failing order is dead-lettered. */
  maxDeliveries: number;
  /** Base retry delay in ms. */
  retryDelayMs: number;
  /** Handlers running at once per (stream, group). */
  concurrency: number;
  /** Simulated work per notification in ms (0: none). */
  notifyWorkMs: number;
}

const ROLES = ['orders', 'inventory', 'notifications'] as const;

function int(env: NodeJS.ProcessEnv, name: string, dflt: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${name}=${JSON.stringify(raw)} is invalid: expected an integer ≥ ${min}`);
  return n;
}

/** Parses the environment; throws naming the variable that is wrong. */
export function parseConfig(role: string | undefined, env: NodeJS.ProcessEnv): ExampleConfig {
  if (!ROLES.includes(role as ExampleConfig['role'])) throw new RangeError(`usage: main.js <${ROLES.join('|')}>, got ${JSON.stringify(role)}`);
  const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\/\S+$/.test(redisUrl)) throw new RangeError(`REDIS_URL=${JSON.stringify(redisUrl)} is invalid: expected redis://…`);
  return {
    role: role as ExampleConfig['role'],
    redisUrl,
    stream: ORDERS_STREAM,
    port: int(env, 'PORT', 3000, 0),
    consumer: env.CONSUMER ?? `${role}-${process.pid}`,
    maxDeliveries: int(env, 'MAX_DELIVERIES', 5, 1),
    retryDelayMs: int(env, 'RETRY_DELAY_MS', 1000, 1),
    concurrency: int(env, 'CONCURRENCY', 50, 1),
    notifyWorkMs: int(env, 'NOTIFY_WORK_MS', 0, 0),
  };
}
