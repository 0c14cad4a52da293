import { parsePools, type PoolSpec } from './pools-config';
import { ConfigError, DEFAULT_GROUP, DEFAULT_RATE_POLICY, DEFAULT_STREAM, SCALING_MODES, bool, commonSpecs, defaultOf, defineConfig, int, oneOf, optionalStr, str, streamShardsSpec, type ConfigOf, type VarSpec } from '@stream-workers/core';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const STREAM_NAME = /^[^\s*?[\]]+$/;

/** Optional positive integer (unset = undefined). */
function optionalInt(name: string, description: string, min: number): VarSpec<number | undefined> {
  const inner = int(name, { description, min });
  return {
    name,
    description,
    defaultText: undefined,
    allowed: inner.allowed,
    parse: (raw, env) => (raw === undefined || raw.trim() === '' ? undefined : inner.parse(raw, env)),
  };
}

/**
 * The autoscaler's environment (docs/design.md, "Runtime contract": the scaling variables plus the
 * janitor, leader-election and local-target ones). `main.ts` parses it; everything else takes the
 * typed result.
 */
const targetName = str('TARGET_NAME', { description: 'Name of the worker Deployment (TARGET_KIND=deployment)', default: 'stream-workers-worker', pattern: NAME, patternText: 'a Kubernetes object name (lower case, digits, -)' });

export const autoscalerConfig = defineConfig('autoscaler', {
  ...commonSpecs(8083),
  stream: str('STREAM', { description: 'Stream whose consumer group backlog drives the scaling', default: DEFAULT_STREAM, pattern: STREAM_NAME, patternText: 'a stream name without spaces or glob characters' }),
  group: str('GROUP', { description: 'Consumer group of the workers', default: DEFAULT_GROUP }),
  /** `STREAM_SHARDS`: the signal is the total over `STREAM{0}` … (core streams/sharded-backlog.ts). */
  streamShards: streamShardsSpec(),
  targetKind: oneOf('TARGET_KIND', ['deployment', 'local'] as const, {
    description: '`deployment`: a Deployment scaled through the Kubernetes API (`scale` subresource); `local`: worker processes started on this machine (demo, tests)',
    default: 'deployment',
  }),
  targetName,
  namespace: str('NAMESPACE', {
    description: 'Namespace of the Deployment, its pods and the Lease',
    derive: (env) => env.POD_NAMESPACE?.trim() || 'default',
    defaultText: '$POD_NAMESPACE, else default',
    pattern: NAME,
    patternText: 'a Kubernetes namespace name',
  }),
  targetPerReplica: int('TARGET_PER_REPLICA', { description: 'Outstanding entries (lag + pending) per replica: desired = ceil(outstanding / this)', default: 100, min: 1 }),
  scalingMode: oneOf('SCALING_MODE', SCALING_MODES, {
    description: '`lag`: desired = ceil(outstanding / TARGET_PER_REPLICA), as KEDA; `rate`: from the arrival rate, the measured service rate per replica and the backlog (docs/autoscaler.md)',
    default: 'lag',
  }),
  targetDrainS: int('TARGET_DRAIN_S', { description: 'SCALING_MODE=rate: drain the waiting entries within this many seconds on top of the arrivals', default: DEFAULT_RATE_POLICY.targetDrainS, min: 1, unit: 's' }),
  targetLagSeconds: optionalInt('TARGET_LAG_SECONDS', 'SCALING_MODE=rate: backlog-age objective: enough replicas that an entry arriving now waits at most this long behind the backlog; unset = none', 1),
  rateWindowS: int('RATE_WINDOW_S', { description: 'SCALING_MODE=rate: window over which the arrival and service rates are measured', default: DEFAULT_RATE_POLICY.rateWindowS, min: 1, max: 600, unit: 's' }),
  activationWatch: bool('ACTIVATION_WATCH', {
    description: 'At 0 replicas, wait for the first new entry with a blocking XREAD on a dedicated connection and decide at once (activation within about a second instead of POLL_INTERVAL_MS); not used with STREAM_SHARDS > 1 (polling activates)',
    default: true,
  }),
  activation: int('ACTIVATION', { description: 'Scale up from 0 only when outstanding is strictly above this', default: 0, min: 0 }),
  minReplicas: int('MIN_REPLICAS', { description: 'Lowest replica count; 0 enables scale to zero', default: 0, min: 0, max: 10_000 }),
  maxReplicas: int('MAX_REPLICAS', { description: 'Highest replica count', default: 20, min: 1, max: 10_000 }),
  pollIntervalMs: int('POLL_INTERVAL_MS', { description: 'Time between two scaling decisions', default: 5000, min: 100, max: 600_000, unit: 'ms' }),
  cooldownS: int('COOLDOWN_S', { description: 'Seconds without activity (outstanding > ACTIVATION) before scaling to 0', default: 300, min: 0, unit: 's' }),
  scaleDownWindowS: int('SCALE_DOWN_WINDOW_S', { description: 'Scale-down takes the highest desired count of this window (HPA stabilization)', default: 300, min: 0, unit: 's' }),
  fallbackReplicas: optionalInt('FALLBACK_REPLICAS', 'Replicas to run while the backlog cannot be read; unset = hold the current count (never 0 on missing data)', 1),
  podSelector: optionalStr('POD_SELECTOR', {
    description: 'Label selector of the worker pods, for the janitor (e.g. `app.kubernetes.io/component=worker`); unset = the Deployment\'s own selector',
    defaultText: "the Deployment's selector",
  }),
  janitorIntervalMs: int('JANITOR_INTERVAL_MS', { description: 'Time between two dead-consumer janitor runs; 0 disables the janitor', default: 60_000, min: 0, unit: 'ms' }),
  janitorIdleMs: int('JANITOR_IDLE_MS', {
    description: 'TARGET_KIND=local (outside Kubernetes): a consumer of an unknown worker idle this long with 0 pending is deleted (consumers of worker processes this autoscaler stopped go as soon as they hold nothing)',
    default: 3_600_000,
    min: 0,
    unit: 'ms',
  }),
  leaderElection: bool('LEADER_ELECTION', { description: 'Elect one active autoscaler through a coordination.k8s.io Lease (TARGET_KIND=deployment)', default: true }),
  leaseName: str('LEASE_NAME', {
    description: 'Name of the Lease used for leader election',
    derive: (env) => `${env.TARGET_NAME?.trim() || defaultOf(targetName)}-autoscaler`,
    defaultText: '<TARGET_NAME>-autoscaler',
    pattern: NAME,
    patternText: 'a Kubernetes object name',
  }),
  leaseDurationS: int('LEASE_DURATION_S', { description: 'How long a Lease holds without renewal before another replica may take it', default: 15, min: 2, max: 3600, unit: 's' }),
  identity: optionalStr('POD_NAME', { description: 'Identity of this replica in the Lease (the Downward API pod name)', defaultText: '<hostname>_<random>' }),
  kubeconfig: optionalStr('KUBECONFIG', { description: 'Path of a kubeconfig file; unset = the in-cluster service account (or ~/.kube/config outside a cluster)' }),
  pools: {
    name: 'POOLS',
    description: 'Several pools served by one autoscaler: a JSON array of {name, stream, group, deployment, podSelector?, scalingMode, targetPerReplica, targetDrainS, targetLagSeconds?, rateWindowS, activationWatch, activation, minReplicas, maxReplicas, pollIntervalMs, cooldownS, scaleDownWindowS, fallbackReplicas?} (the chart renders it); set, it replaces STREAM, GROUP, TARGET_NAME, POD_SELECTOR and the scaling variables',
    defaultText: undefined,
    allowed: 'a JSON array of pools',
    parse: (raw: string | undefined): PoolSpec[] | undefined => (raw === undefined || raw.trim() === '' ? undefined : parsePools(raw)),
  } satisfies VarSpec<PoolSpec[] | undefined>,
  workerRedisUsername: optionalStr('WORKER_REDIS_USERNAME', {
    description: 'TARGET_KIND=local: the Redis ACL user of the worker processes (with WORKER_REDIS_PASSWORD_FILE); unset = they connect as the autoscaler does',
  }),
  workerRedisPasswordFile: optionalStr('WORKER_REDIS_PASSWORD_FILE', {
    description: "TARGET_KIND=local: file holding the workers' Redis password; when this or WORKER_REDIS_USERNAME is set, the workers get REDIS_URL without the autoscaler's credentials",
  }),
  workerScript: optionalStr('WORKER_SCRIPT', { description: 'TARGET_KIND=local: the worker entry point run with `node`', defaultText: 'services/worker/dist/main.js' }),
}, (c) => [
  ...(c.maxReplicas < c.minReplicas ? [new ConfigError('MAX_REPLICAS', String(c.maxReplicas), `an integer ≥ MIN_REPLICAS (${c.minReplicas})`)] : []),
  // The rate signal reads one stream's entries-added/entries-read; rates summed over shards are left out, so the combination is refused.
  ...(c.streamShards > 1 && c.scalingMode === 'rate' ? [new ConfigError('SCALING_MODE', c.scalingMode, `lag with STREAM_SHARDS=${c.streamShards} (the rate mode reads one stream)`)] : []),
  ...(c.streamShards > 1 && c.pools
    ? c.pools.flatMap((p, i) => (p.scalingMode === 'rate' ? [new ConfigError(`POOLS[${i}].scalingMode`, p.scalingMode, `lag with STREAM_SHARDS=${c.streamShards} (the rate mode reads one stream)`)] : []))
    : []),
]);

export type AutoscalerConfig = ConfigOf<typeof autoscalerConfig.specs>;
