/**
 * Private Redis topologies for the tests of issue 17, as real `redis-server` processes on 127.0.0.1
 * with their own free ports and data dirs: a primary with replicas and sentinels
 * ({@link startSentinelSet}), a Redis Cluster made by `redis-cli --cluster create`
 * ({@link startCluster}), and any server with arguments of its own (TLS only, a password:
 * {@link startServer}). Everything started is stopped by pid with `stop()` (call it in afterAll).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis, { type RedisOptions } from 'ioredis';
import { LocalRedisCluster, freeClusterPort } from '../services/core/src/local-redis-cluster';

/** One redis-server (or sentinel) process. */
export interface ServerProcess {
  /** Its port (the TLS port when it serves TLS only). */
  readonly port: number;
  /** Its data dir. */
  readonly dir: string;
  /** Its process id, while it runs. */
  readonly pid: number | undefined;
  /** True while the process runs. */
  readonly running: boolean;
  /** Sends `signal` and resolves when the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the process again with the same arguments (same port and dir) after it was killed. */
  restart(): void;
}

class Server implements ServerProcess {
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  private args: string[] = [];

  spawn(args: string[]): void {
    this.args = args;
    const proc = spawn('redis-server', args, { stdio: 'ignore' });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
  }

  restart(): void {
    if (!this.running) this.spawn(this.args);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.proc!.kill(signal);
    await this.exited;
  }
}

export { freeClusterPort } from '../services/core/src/local-redis-cluster';

/** Waits until `check` resolves true, at most `timeoutMs`; rejects naming `what`. */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs one command on a short-lived connection (options as ioredis takes them); rejects on failure. */
export async function command(port: number, args: (string | number)[], options: RedisOptions = {}): Promise<unknown> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableReadyCheck: false, ...options });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await c.call(String(args[0]), ...args.slice(1).map(String));
  } finally {
    c.disconnect();
  }
}

/** What {@link startServer} takes. */
export interface ServerOptions {
  /** Extra arguments (after the project's defaults: no RDB, noeviction, its own dir). */
  args?: string[];
  /** Port to use; default a free one (below 55536). */
  port?: number;
  /** TLS only: the port given is the `--tls-port` and `--port 0`; pass the `--tls-*` arguments in `args`. */
  tlsOnly?: boolean;
  /** How to connect for the readiness check (password, TLS options); default plain. */
  probe?: RedisOptions;
}

/** Starts a redis-server and resolves once it answers PING. */
export async function startServer(o: ServerOptions = {}): Promise<ServerProcess> {
  const port = o.port ?? (await freeClusterPort());
  const dir = mkdtempSync(join(tmpdir(), 'sw-ha-'));
  const s = new Server(port, dir);
  const portArgs = o.tlsOnly ? ['--port', '0', '--tls-port', String(port)] : ['--port', String(port)];
  s.spawn([...portArgs, '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', ...(o.args ?? [])]);
  try {
    await until(`redis-server on ${port}`, async () => (await command(port, ['PING'], o.probe ?? {})) === 'PONG', 10_000);
  } catch (err) {
    await s.kill();
    throw err;
  }
  return s;
}

/** A primary, its replicas and the sentinels that watch it. */
export interface SentinelSet {
  /** The master name the sentinels monitor. */
  readonly masterName: string;
  /** The first primary. */
  readonly primary: ServerProcess;
  /** Its replicas. */
  readonly replicas: ServerProcess[];
  /** The sentinels. */
  readonly sentinels: ServerProcess[];
  /** `127.0.0.1:<port>,…` of the sentinels (REDIS_SENTINELS). */
  readonly sentinelList: string;
  /** Asks a sentinel for the current primary's port. */
  primaryPort(): Promise<number>;
  /** Stops every process (SIGKILL) and removes their dirs. */
  stop(): Promise<void>;
}

/** What {@link startSentinelSet} takes. */
export interface SentinelSetOptions {
  /** Replicas of the primary; default 1. */
  replicas?: number;
  /** Sentinels; default 3 (quorum 2). */
  sentinels?: number;
  /** Master name; default `mymaster`. */
  masterName?: string;
  /** `down-after-milliseconds`; default 1000. */
  downAfterMs?: number;
  /** `failover-timeout`; default 5000. */
  failoverTimeoutMs?: number;
}

/** Starts a primary, replicas (in sync before it resolves) and sentinels that all know them. */
export async function startSentinelSet(o: SentinelSetOptions = {}): Promise<SentinelSet> {
  const masterName = o.masterName ?? 'mymaster';
  const started: ServerProcess[] = [];
  try {
    const primary = await startServer();
    started.push(primary);
    const replicas: ServerProcess[] = [];
    for (let i = 0; i < (o.replicas ?? 1); i++) {
      const r = await startServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
      started.push(r);
      replicas.push(r);
    }
    for (const r of replicas) {
      await until('replica in sync', async () => /master_link_status:up/.test(String(await command(r.port, ['INFO', 'replication']))));
    }
    const count = o.sentinels ?? 3;
    const sentinels: ServerProcess[] = [];
    for (let i = 0; i < count; i++) {
      const port = await freeClusterPort();
      const dir = mkdtempSync(join(tmpdir(), 'sw-sentinel-'));
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} ${Math.floor(count / 2) + 1}`,
          `sentinel down-after-milliseconds ${masterName} ${o.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${masterName} ${o.failoverTimeoutMs ?? 5000}`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const s = new Server(port, dir);
      s.spawn([conf, '--sentinel']);
      started.push(s);
      sentinels.push(s);
    }
    for (const s of sentinels) {
      await until(`sentinel ${s.port} sees the replicas and the other sentinels`, async () => {
        const info = (await command(s.port, ['SENTINEL', 'MASTER', masterName])) as string[];
        const field = (k: string) => Number(info[info.indexOf(k) + 1]);
        return field('num-slaves') >= replicas.length && field('num-other-sentinels') >= count - 1;
      }, 30_000);
    }
    const primaryPort = async (): Promise<number> => {
      for (const s of sentinels) {
        if (!s.running) continue;
        const reply = (await command(s.port, ['SENTINEL', 'get-master-addr-by-name', masterName]).catch(() => null)) as string[] | null;
        if (reply) return Number(reply[1]);
      }
      throw new Error('no sentinel answered');
    };
    return {
      masterName,
      primary,
      replicas,
      sentinels,
      sentinelList: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      primaryPort,
      stop: () => stopAll(started),
    };
  } catch (err) {
    await stopAll(started);
    throw err;
  }
}

async function stopAll(servers: ServerProcess[]): Promise<void> {
  await Promise.all(servers.map((s) => s.kill('SIGKILL')));
  for (const s of servers) rmSync(s.dir, { recursive: true, force: true });
}

/** A Redis Cluster of primaries (and replicas): core's LocalRedisCluster, the one cluster starter. */
export interface ClusterSet {
  /** Every node, primaries first. */
  readonly nodes: ReadonlyArray<{ readonly port: number; readonly pid: number | undefined }>;
  /** `127.0.0.1:<port>,…` of every node (REDIS_CLUSTER_NODES). */
  readonly nodeList: string;
  /** Stops every node (SIGKILL, by pid) and removes their dirs. */
  stop(): Promise<void>;
}

/**
 * Starts `primaries` nodes (with `replicas` each) and joins them with `redis-cli --cluster create`;
 * resolves when every node says `cluster_state:ok` (core's LocalRedisCluster, also behind
 * test-support/redis-cluster.ts and the benchmarks). With `password`, every node requires it (and
 * replicas use it towards their primary).
 */
export async function startCluster(o: { primaries?: number; replicas?: number; args?: string[]; password?: string } = {}): Promise<ClusterSet> {
  const c = await LocalRedisCluster.start(o);
  return { nodes: c.nodes, nodeList: c.nodesEnv, stop: () => c.stop() };
}
