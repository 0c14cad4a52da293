import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { createLogger, readGroupBacklog, type Logger } from '@stream-workers/core';
import { BacklogSource } from '../../src/backlog-source';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../../test-support/redis';
import { KubeApiDouble } from './kube-api-double';

/** A pino logger whose JSON lines are collected for assertions. */
export function captureLogger(service = 'autoscaler-test'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    service,
    level: 'debug',
    destination: {
      write(chunk: string) {
        for (const l of chunk.split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      },
    },
  });
  return { logger, lines };
}

/**
 * A real backlog on the shared Redis (a unique stream whose group starts at `$`), read through the
 * autoscaler's own {@link BacklogSource} and core's readGroupBacklog. `set(n)` makes the group's
 * outstanding entries n: it appends entries (lag) or reads and acks the oldest ones, as a worker
 * would. No stub of the Redis side: only the Kubernetes API server is a double in these tests.
 */
export class RedisBacklog {
  readonly source: BacklogSource;
  private constructor(
    private readonly redis: Redis,
    readonly stream: string,
    readonly group: string,
    logger: Logger,
  ) {
    this.source = new BacklogSource({ redis, stream, group, read: readGroupBacklog, logger });
  }

  /** Creates the stream and its group (at `$`: nothing outstanding yet). */
  static async create(redis: Redis, stream: string, logger: Logger, group = 'workers'): Promise<RedisBacklog> {
    await redis.xgroup('CREATE', stream, group, '$', 'MKSTREAM');
    return new RedisBacklog(redis, stream, group, logger);
  }

  read(): Promise<number | undefined> {
    return this.source.read();
  }

  /** Outstanding entries (lag + pending) as Redis reports them, straight from XINFO GROUPS. */
  async outstanding(): Promise<number> {
    const groups = (await this.redis.xinfo('GROUPS', this.stream)) as unknown[][];
    for (const g of groups) {
      const o: Record<string, unknown> = {};
      for (let i = 0; i + 1 < g.length; i += 2) o[String(g[i])] = g[i + 1];
      if (o.name === this.group) return Number(o.lag) + Number(o.pending);
    }
    throw new Error(`no group ${this.group} on ${this.stream}`);
  }

  /** Makes the outstanding count `n`: appends entries, or reads and acks the oldest ones. */
  async set(n: number): Promise<void> {
    const now = await this.outstanding();
    if (n > now) {
      const p = this.redis.pipeline();
      for (let i = now; i < n; i++) p.xadd(this.stream, '*', 'n', String(i));
      await p.exec();
    } else if (n < now) {
      let left = now - n;
      while (left > 0) {
        const res = (await this.redis.xreadgroup('GROUP', this.group, 'test-worker', 'COUNT', Math.min(left, 1000), 'STREAMS', this.stream, '>')) as Array<[string, Array<[string, string[]]>]> | null;
        const ids = res?.[0]?.[1].map(([id]) => id) ?? [];
        if (ids.length === 0) throw new Error(`cannot lower the backlog of ${this.stream} to ${n}: nothing left to read`);
        await this.redis.xack(this.stream, this.group, ...ids);
        left -= ids.length;
      }
    }
    const after = await this.outstanding();
    if (after !== n) throw new Error(`backlog of ${this.stream} is ${after}, wanted ${n}`);
  }
}

/** A clock the test moves by hand. */
export class SimClock {
  constructor(public ms = 1_700_000_000_000) {}
  now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

/** What {@link kubeAndRedisFixture} gives each test: fresh per test, except the Redis client. */
export interface KubeAndRedis {
  /** The Kubernetes API-server double, started for each test. */
  readonly api: KubeApiDouble;
  /** A temporary directory for kubeconfig files, per test. */
  readonly dir: string;
  /** A client on the shared Redis (one per file). */
  readonly redis: Redis;
  /** A unique key prefix on the shared Redis, per test; its keys are deleted after the test. */
  readonly prefix: string;
}

/**
 * The jest hooks the autoscaler tests share: a client on the shared Redis for the file, and per test
 * a started Kubernetes API-server double, a temp dir and a unique key prefix — all torn down after.
 * Call at the top of a describe block; read the fields inside hooks and tests.
 */
export function kubeAndRedisFixture(name: string): KubeAndRedis {
  let api: KubeApiDouble | undefined;
  let dir: string | undefined;
  let redis: Redis | undefined;
  let prefix: string | undefined;
  beforeAll(() => {
    redis = new Redis(SHARED_REDIS_URL);
  });
  afterAll(async () => {
    await redis?.quit();
  });
  beforeEach(async () => {
    api = await new KubeApiDouble().start();
    dir = mkdtempSync(join(tmpdir(), `sw-${name}-`));
    prefix = uniquePrefix(name);
  });
  afterEach(async () => {
    await api?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (redis && prefix) await deleteKeys(redis, prefix);
  });
  const got = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} is set up in the hooks: read it inside a test`);
    return v;
  };
  return {
    get api() {
      return got(api, 'api');
    },
    get dir() {
      return got(dir, 'dir');
    },
    get redis() {
      return got(redis, 'redis');
    },
    get prefix() {
      return got(prefix, 'prefix');
    },
  };
}
