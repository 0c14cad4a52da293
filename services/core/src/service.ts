/**
 * The bootstrap of the four service binaries (`services/<name>/src/main.ts`), in one place: parse the
 * configuration, create the logger, the metrics registry and (when asked for) the command connection
 * to Redis, let the service build its parts, listen, install SIGTERM/SIGINT, start, log one
 * `<name> started` line, and on a signal close the parts in order (the service's own steps in the
 * order it added them, Redis last) within a deadline. This module and the `main.ts` files are the
 * only code that reads `process.env`, installs signal handlers or exits (docs/design.md, "Code rules").
 */
import type { Registry } from 'prom-client';
import type { Env, LogLevel } from './config';
import { createLogger, type Logger } from './logger';
import { createRegistry } from './metrics';
import { closeRedis, createRedis, type RedisConnection } from './redis';
import type { RedisSettings } from './redis-settings';
import { Shutdown, signalHandler } from './shutdown';
import { describeStartupError, startupExitCode } from './startup';

/** What every service's configuration has (core's `commonSpecs`). */
export interface ServiceConfig {
  /** The Redis settings (`REDIS_URL` or `REDIS_SENTINELS` or `REDIS_CLUSTER_NODES`, credentials, TLS). */
  redis: RedisSettings;
  /** `LOG_LEVEL`. */
  logLevel: LogLevel;
}

/** What {@link ServiceDefinition.build} gets. */
export interface ServiceContext<C extends ServiceConfig> {
  /** The service's name. */
  readonly name: string;
  /** Its parsed configuration. */
  readonly config: C;
  /** The environment it was parsed from. */
  readonly env: Env;
  /** The service's logger. */
  readonly logger: Logger;
  /** The service's metrics registry. */
  readonly registry: Registry;
  /** Steps added here close in the order added; the Redis connection (if any) closes after them. */
  readonly shutdown: Shutdown;
  /** The service's command connection to Redis, any topology (created on the first call, closed last). */
  redis(): RedisConnection;
}

/** The built service: what listens, and what runs once it listens. */
export interface BuiltService {
  /** Starts the HTTP server; resolves with the bound port. */
  listen(): Promise<number>;
  /** Runs after `listen` succeeded and the signal handlers are installed; resolves with extra fields of the `started` line. */
  start?(): Promise<Record<string, unknown> | void> | Record<string, unknown> | void;
}

/** One service binary. */
export interface ServiceDefinition<C extends ServiceConfig> {
  /** `worker`, `producer`, `lag-exporter`, `autoscaler`: the logger's `service` and the start-up error prefix. */
  name: string;
  /** Its variables (a `defineConfig` result). */
  config: {
    /** Parses the environment; throws naming every bad variable. */
    parse(env: Env): C;
  };
  /** Fields on every log line (e.g. the worker's `consumer`). */
  logBase?: (config: C) => Record<string, unknown>;
  /** Register the default process metrics at once (default true; the exporter registers them itself, after its own). */
  processMetrics?: boolean;
  /** Deadline of the whole shutdown, in ms. */
  shutdownDeadlineMs: (config: C) => number;
  /** Builds the parts and adds their shutdown steps. */
  build(ctx: ServiceContext<C>): Promise<BuiltService> | BuiltService;
}

/** What the process offers {@link runService}; tests pass their own. */
export interface ServiceProcess {
  /** The environment. */
  env: Env;
  /** Ends the process with `code`. */
  exit(code: number): void;
  /** Calls `handler` on `signal`. */
  onSignal(signal: NodeJS.Signals, handler: (signal: NodeJS.Signals) => void): void;
  /** Writes a line to stderr. */
  stderr(line: string): void;
}

const NODE_PROCESS: ServiceProcess = {
  env: process.env,
  exit: (code) => process.exit(code),
  onSignal: (signal, handler) => process.on(signal, handler),
  stderr: (line) => process.stderr.write(line),
};

/**
 * Runs a service until a signal ends it. A start-up failure (bad configuration: exit code 2; anything
 * else: 1) is written to stderr, after closing what was already built. Resolves once the service has
 * started (or, on failure, after `exit` was called).
 */
export async function runService<C extends ServiceConfig>(def: ServiceDefinition<C>, proc: ServiceProcess = NODE_PROCESS): Promise<void> {
  try {
    await start(def, proc);
  } catch (err) {
    proc.stderr(`${describeStartupError(def.name, err)}\n`);
    proc.exit(startupExitCode(err));
  }
}

async function start<C extends ServiceConfig>(def: ServiceDefinition<C>, proc: ServiceProcess): Promise<void> {
  const config = def.config.parse(proc.env);
  const logger = createLogger({ service: def.name, level: config.logLevel, ...(def.logBase ? { base: def.logBase(config) } : {}) });
  const registry = createRegistry({ processMetrics: def.processMetrics ?? true });
  const shutdown = new Shutdown({ logger, deadlineMs: def.shutdownDeadlineMs(config) });
  let redis: RedisConnection | undefined;
  const ctx: ServiceContext<C> = {
    name: def.name,
    config,
    env: proc.env,
    logger,
    registry,
    shutdown,
    redis: () => (redis ??= createRedis({ settings: config.redis, role: 'command', name: def.name, logger })),
  };
  const closeRedisLast = () => shutdown.add('redis', () => (redis ? closeRedis(redis) : undefined));
  let built: BuiltService;
  try {
    built = await def.build(ctx);
  } catch (err) {
    closeRedisLast();
    await shutdown.run('start-up failed');
    throw err;
  }
  closeRedisLast();
  const onSignal = signalHandler(shutdown, logger, proc.exit);
  proc.onSignal('SIGTERM', onSignal);
  proc.onSignal('SIGINT', onSignal);
  let port: number;
  try {
    port = await built.listen();
  } catch (err) {
    await shutdown.run('start-up failed');
    throw err;
  }
  const fields = (await built.start?.()) ?? {};
  logger.info({ port, ...fields }, `${def.name.replace(/-/g, ' ')} started`);
}
