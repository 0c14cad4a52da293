import { bool, type Env, type VarSpec, defineConfig, int, LOG_LEVELS, oneOf, redisUrl, str, type ConfigOf } from '@stream-workers/core';

/** An optional Redis URL: unset = undefined, otherwise validated like every service's REDIS_URL. */
function optionalRedisUrl(name: string, description: string): VarSpec<string | undefined> {
  const inner = redisUrl(name, { description });
  return {
    name,
    description,
    defaultText: 'unset: a private redis-server on a free port',
    allowed: inner.allowed,
    parse: (raw: string | undefined, env: Env) => (raw === undefined || raw.trim() === '' ? undefined : inner.parse(raw.trim(), env)),
  };
}

/** An optional run id: letters, digits, `_` and `-` (it becomes part of a Redis key name). */
function optionalRunId(name: string, description: string): VarSpec<string | undefined> {
  const inner = str(name, { description, pattern: /^[A-Za-z0-9_-]{1,64}$/, patternText: '1 to 64 letters, digits, _ or -' });
  return {
    name,
    description,
    defaultText: 'a random id',
    allowed: inner.allowed,
    parse: (raw: string | undefined, env: Env) => (raw === undefined || raw.trim() === '' ? undefined : inner.parse(raw, env)),
  };
}

/**
 * The demo's environment. `make demo` needs none of it; every variable has a default that shows the
 * whole system in about two minutes on a laptop.
 */
export const demoConfig = defineConfig('demo', {
  durationS: int('DEMO_DURATION', { description: 'Length of the load scenario (quiet, ramp, burst, quiet); the drain after it comes on top', default: 120, min: 10, max: 3600, unit: 's' }),
  redisUrl: optionalRedisUrl(
    'REDIS_URL',
    'Use this Redis instead of starting a private redis-server; the demo then uses its own unique stream name and deletes only its own keys',
  ),
  reportDir: str('DEMO_REPORT_DIR', { description: 'Where the report (index.html, chart.png, summary.json, logs/) is written', default: 'demo-report' }),
  minReplicas: int('DEMO_MIN_REPLICAS', { description: 'MIN_REPLICAS of the autoscaler', default: 1, min: 0, max: 4 }),
  scaling: oneOf('DEMO_SCALING', ['lag', 'rate', 'both'] as const, {
    description: 'SCALING_MODE of the autoscaler: `lag` (KEDA parity), `rate`, or `both`: the same scenario once per mode, drawn side by side in the report',
    default: 'lag',
  }),
  maxReplicas: int('DEMO_MAX_REPLICAS', { description: 'MAX_REPLICAS of the autoscaler', default: 6, min: 1, max: 32 }),
  view: oneOf('DEMO_VIEW', ['auto', 'tty', 'plain'] as const, { description: '`tty`: redraw a live table; `plain`: one log line per second; `auto`: tty when stdout is a terminal', default: 'auto' }),
  logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { description: 'Log level of the services (their logs go to <DEMO_REPORT_DIR>/logs/)', default: 'info' }),
  keepKeys: bool('DEMO_KEEP_KEYS', { description: 'With REDIS_URL: keep the demo stream and its keys after the run (default: delete them)', default: false }),
  runId: optionalRunId('DEMO_RUN_ID', 'Identifier of the run, set in the environment of every process the demo starts (tests find them by it) and part of the stream name with REDIS_URL'),
});

export type DemoConfig = ConfigOf<typeof demoConfig.specs>;
