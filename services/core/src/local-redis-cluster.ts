/**
 * A local Redis Cluster of private redis-server child processes (`--cluster-enabled yes`, created with
 * `redis-cli --cluster create`), for the tests (test/redis-ha) and the benchmarks. Never the shared
 * Redis. Stopped by pid ({@link LocalRedisCluster.stop}).
 */
import { spawn } from 'node:child_process';
import Redis from 'ioredis';
import { LocalRedis, freePort } from './local-redis';

/** Options of {@link LocalRedisCluster.start}. */
export interface LocalRedisClusterOptions {
  /** Primaries; default 3 (the fewest `redis-cli --cluster create` accepts). */
  primaries?: number;
  /** Replicas per primary; default 0. */
  replicas?: number;
  /** Extra `redis-server` arguments for every node. */
  args?: string[];
  /** How long the cluster may take to reach `cluster_state:ok`, in ms; default 30000. */
  startTimeoutMs?: number;
  /** A password every node requires (`--requirepass`; replicas use it towards their primary, `--masterauth`). */
  password?: string;
}

/** The cluster bus listens on port + 10000: ports must stay below this. */
const MAX_PORT = 55_535;

/**
 * A free port below 55536 (a cluster node's bus port, +10000, must exist), not in `taken` (ports
 * picked for other nodes that are not listening yet); adds it to `taken`.
 */
export async function freeClusterPort(taken: Set<number> = new Set()): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = await freePort();
    if (p > MAX_PORT || taken.has(p) || taken.has(p + 10_000)) continue;
    taken.add(p);
    return p;
  }
  throw new Error(`no free port below ${MAX_PORT} for a cluster node`);
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (e) => {
      clearTimeout(t);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    p.once('exit', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${out.slice(-2000)}`));
    });
  });
}

/** One node as `CLUSTER NODES` describes it. */
export interface ClusterNodeInfo {
  /** Node id. */
  id: string;
  /** Port on 127.0.0.1. */
  port: number;
  /** Primary (`master`) or replica. */
  primary: boolean;
}

/** A Redis Cluster of local redis-server processes on 127.0.0.1. */
export class LocalRedisCluster {
  private constructor(
    /** The nodes (primaries first, as created). */
    readonly nodes: LocalRedis[],
    private readonly admin: Map<number, Redis>,
  ) {}

  /** `127.0.0.1:<port>,…` of every node: the value of `REDIS_CLUSTER_NODES`. */
  get nodesEnv(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  /** Starts the nodes, creates the cluster and resolves once every node reports `cluster_state:ok`. */
  static async start(opts: LocalRedisClusterOptions = {}): Promise<LocalRedisCluster> {
    const primaries = opts.primaries ?? 3;
    const replicas = opts.replicas ?? 0;
    const taken = new Set<number>();
    const nodes: LocalRedis[] = [];
    const admin = new Map<number, Redis>();
    const cluster = new LocalRedisCluster(nodes, admin);
    const pw = opts.password;
    const auth = pw !== undefined ? ['--requirepass', pw, '--masterauth', pw] : [];
    try {
      for (let i = 0; i < primaries * (1 + replicas); i++) {
        const port = await freeClusterPort(taken);
        nodes.push(await LocalRedis.start({ port, args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '3000', ...auth, ...(opts.args ?? [])], ...(pw !== undefined ? { password: pw } : {}) }));
      }
      const cliAuth = pw !== undefined ? ['-a', pw, '--no-auth-warning'] : [];
      await run('redis-cli', [...cliAuth, '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], 60_000);
      for (const n of nodes) {
        const c = new Redis(n.port, '127.0.0.1', { maxRetriesPerRequest: 1, lazyConnect: false, ...(pw !== undefined ? { password: pw } : {}) });
        c.on('error', () => undefined);
        admin.set(n.port, c);
      }
      await cluster.waitOk(opts.startTimeoutMs ?? 30_000);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Resolves once every node reports `cluster_state:ok` and agrees on every slot's owner. */
  async waitOk(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all([...this.admin.values()].map((c) => c.cluster('INFO').then(String).catch(() => '')));
      if (states.every((s) => /cluster_state:ok/.test(s) && /cluster_slots_assigned:16384/.test(s))) return;
      if (Date.now() > deadline) throw new Error(`the cluster did not reach cluster_state:ok within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The nodes as one node sees them (`CLUSTER NODES`). */
  async nodeInfos(): Promise<ClusterNodeInfo[]> {
    const text = String(await this.admin.get(this.nodes[0]!.port)!.cluster('NODES'));
    return text.trim().split('\n').map((line) => {
      const f = line.split(' ');
      return { id: f[0]!, port: Number(/:(\d+)@/.exec(f[1]!)![1]), primary: f[2]!.includes('master') };
    });
  }

  /** The port of the primary serving `slot`. */
  async ownerOf(slot: number): Promise<number> {
    const slots = await this.admin.get(this.nodes[0]!.port)!.cluster('SLOTS');
    const r = slots.find(([a, b]) => slot >= a && slot <= b);
    if (!r?.[2]) throw new Error(`slot ${slot} is not served`);
    return Number(r[2][1]);
  }

  /**
   * Moves `slot` with its keys to the primary on `toPort`, as `redis-cli --cluster reshard` does:
   * `SETSLOT IMPORTING` on the target, `MIGRATING` on the source, `MIGRATE` of the keys in batches
   * (clients meanwhile get `ASK` for keys already moved), then `SETSLOT NODE` on both and every other
   * primary. Resolves with the number of keys moved.
   */
  async moveSlot(slot: number, toPort: number): Promise<number> {
    const fromPort = await this.ownerOf(slot);
    if (fromPort === toPort) return 0;
    const infos = await this.nodeInfos();
    const id = (port: number): string => infos.find((n) => n.port === port)!.id;
    const src = this.admin.get(fromPort)!;
    const dst = this.admin.get(toPort)!;
    await dst.cluster('SETSLOT', slot, 'IMPORTING', id(fromPort));
    await src.cluster('SETSLOT', slot, 'MIGRATING', id(toPort));
    let moved = 0;
    for (;;) {
      const keys = (await src.cluster('GETKEYSINSLOT', slot, 100)) as string[];
      if (keys.length === 0) break;
      await src.migrate('127.0.0.1', toPort, '', 0, 10_000, 'KEYS', ...keys);
      moved += keys.length;
    }
    await dst.cluster('SETSLOT', slot, 'NODE', id(toPort));
    await src.cluster('SETSLOT', slot, 'NODE', id(toPort));
    for (const n of infos) if (n.primary && n.port !== fromPort && n.port !== toPort) await this.admin.get(n.port)?.cluster('SETSLOT', slot, 'NODE', id(toPort));
    return moved;
  }

  /** A command connection to the node on `port` (owned by the cluster object: do not close it). */
  node(port: number): Redis {
    const c = this.admin.get(port);
    if (!c) throw new Error(`no node on port ${port}`);
    return c;
  }

  /** Stops every node (SIGKILL by pid) and removes their data dirs. Idempotent. */
  async stop(): Promise<void> {
    for (const c of this.admin.values()) c.disconnect();
    this.admin.clear();
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
