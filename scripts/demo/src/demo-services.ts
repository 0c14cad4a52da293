/**
 * The demo's first stages: Redis (a private redis-server unless REDIS_URL is set), then the lag
 * exporter, the producer and the autoscaler (which starts the worker processes), each on a free port
 * and waited on until ready.
 */
import { join } from 'node:path';
import type Redis from 'ioredis';
import { LocalRedis, createRedis, freePort, redactUrl, type ScalingMode } from '@stream-workers/core';
import type { ChildService } from './child-service';
import { StartupError, type DemoProcesses } from './demo-processes';
import type { DemoTuning } from './scenario';

/** Redis for the run: the user's, or a private redis-server in its own process group. */
export interface DemoRedis {
  url: string;
  redis: Redis;
  /** The private redis-server, when the demo started one. */
  embedded: LocalRedis | undefined;
}

/**
 * Starts (or connects to) Redis. `onEmbedded` gets the private redis-server as soon as it runs, so the
 * caller stops it at shutdown even when the ping below fails.
 */
export async function startRedis(o: {
  redisUrl: string | undefined;
  logDir: string;
  env: Record<string, string>;
  say: (m: string) => void;
  onEmbedded: (e: LocalRedis) => void;
}): Promise<DemoRedis> {
  let url = o.redisUrl;
  let embedded: LocalRedis | undefined;
  if (!url) {
    o.say('starting a private redis-server…');
    // Its own process group: a Ctrl-C in the terminal does not stop it before the workers have
    // handed back what they hold; the demo stops it last.
    embedded = await LocalRedis.start({ args: ['--appendonly', 'no'], logFile: join(o.logDir, 'redis.log'), env: o.env, detached: true }).catch((err: unknown) => {
      throw new StartupError(`the private redis-server could not start: ${err instanceof Error ? err.message : String(err)}`);
    });
    o.onEmbedded(embedded);
    url = embedded.url;
  }
  const redis = createRedis({ url, role: 'command', name: 'demo' });
  try {
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new StartupError(`cannot reach Redis at ${redactUrl(url)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { url, redis, embedded };
}

/** The running services and where they answer. */
export interface DemoServices {
  autoscaler: ChildService;
  urls: { exporter: string; producer: string; autoscaler: string };
}

export interface ServiceSettings {
  redisUrl: string;
  stream: string;
  group: string;
  minReplicas: number;
  maxReplicas: number;
  scalingMode: ScalingMode;
  tuning: DemoTuning;
}

/** The autoscaler's environment: its scaling rules, the local target, and what every worker inherits. */
function autoscalerEnv(procs: DemoProcesses, s: ServiceSettings, port: number): Record<string, string> {
  const t = s.tuning;
  return {
    REDIS_URL: s.redisUrl,
    PORT: String(port),
    STREAM: s.stream,
    GROUP: s.group,
    TARGET_KIND: 'local',
    SCALING_MODE: s.scalingMode,
    ...(s.scalingMode === 'rate' ? { TARGET_LAG_SECONDS: String(t.targetLagSeconds) } : {}),
    MIN_REPLICAS: String(s.minReplicas),
    MAX_REPLICAS: String(s.maxReplicas),
    TARGET_PER_REPLICA: String(t.targetPerReplica),
    POLL_INTERVAL_MS: String(t.pollIntervalMs),
    COOLDOWN_S: String(t.cooldownS),
    SCALE_DOWN_WINDOW_S: String(t.scaleDownWindowS),
    JANITOR_INTERVAL_MS: '5000',
    WORKER_SCRIPT: procs.path('services/worker/dist/main.js'),
    // Inherited by every worker process the autoscaler starts:
    HANDLER: procs.path('scripts/demo/dist/handler.js'),
    SIM_WORK_MS: String(t.workMs),
    SIM_POISON_TYPE: t.poisonType,
    CONCURRENCY: String(t.concurrency),
    BATCH_SIZE: String(t.batchSize),
    BLOCK_MS: '1000',
    MAX_DELIVERIES: String(t.maxDeliveries),
    CLAIM_IDLE_MS: String(t.claimIdleMs),
    SHUTDOWN_GRACE_MS: String(t.shutdownGraceMs),
  };
}

/** Starts the exporter, the producer and the autoscaler and waits until all three are ready. */
export async function startServices(procs: DemoProcesses, s: ServiceSettings): Promise<DemoServices> {
  const [exporterPort, producerPort, autoscalerPort] = [await freePort(), await freePort(), await freePort()];
  const common = { REDIS_URL: s.redisUrl };
  const exporter = procs.spawn('lag-exporter', 'services/lag-exporter/dist/main.js', { ...common, PORT: String(exporterPort), STREAMS: s.stream, GROUPS: s.group });
  const producer = procs.spawn('producer', 'services/producer/dist/main.js', { ...common, PORT: String(producerPort), STREAMS: s.stream, MAXLEN: '0' });
  const autoscaler = procs.spawn('autoscaler', 'services/autoscaler/dist/main.js', autoscalerEnv(procs, s, autoscalerPort));
  const urls = { exporter: `http://127.0.0.1:${exporterPort}`, producer: `http://127.0.0.1:${producerPort}`, autoscaler: `http://127.0.0.1:${autoscalerPort}` };
  await Promise.all([procs.waitReady(exporter, urls.exporter), procs.waitReady(producer, urls.producer), procs.waitReady(autoscaler, urls.autoscaler)]);
  return { autoscaler, urls };
}
