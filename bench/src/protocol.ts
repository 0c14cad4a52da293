/**
 * `protocol` (issue 13): the worker's read path through the project's own RESP reader
 * (core `StreamConsumer`) and through ioredis (a dedicated client, `xreadgroup`, string replies), on
 * the same private redis-server, the same entries, in one process, alternating, for events of ~300 B,
 * 64 KiB and 256 KiB. Each rep reads the whole stream through a fresh group with XREADGROUP COUNT 100
 * (the worker's default batch), entries as `[id, fields]` strings, as the worker takes them in.
 * Figures per size: events/s, MB/s and CPU µs per event of this process for both, and the ratio
 * ioredis ÷ own reader (CPU per event; > 1: the own reader is cheaper). The decision rule of issue 13:
 * the own reader stays only where that ratio is ≥ 1.3.
 */
import Redis from 'ioredis';
import { StreamConsumer, toFields, type RawEntry } from '@stream-workers/core';
import type { Benchmark, BenchContext } from './harness';
import { monoMs } from './bench-support';

/** A reader under test: reads up to `count` new entries of its group. */
interface Reader {
  read(count: number): Promise<RawEntry[]>;
  close(): void;
}

const BATCH = 100;
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 3));
/** [label, bytes per event, events]: about 30–130 MB per size. */
const SIZES: Array<[string, number, number]> = [
  ['300b', 300, Number(process.env.BENCH_PROTOCOL_SMALL ?? 100_000)],
  ['64k', 64 * 1024, Number(process.env.BENCH_PROTOCOL_64K ?? 2000)],
  ['256k', 256 * 1024, Number(process.env.BENCH_PROTOCOL_256K ?? 500)],
];

/** Appends `n` envelopes whose fields total about `bytes` (data padded), pipelined. */
export async function fillSized(redis: Redis, stream: string, n: number, bytes: number): Promise<void> {
  const base = toFields({ specversion: '1.0', id: 'bench-0', source: 'bench', type: 'noop', time: new Date().toISOString(), datacontenttype: 'application/json', data: { i: 0, pad: '' }, correlationid: 'c' });
  const overhead = base.reduce((s, f) => s + Buffer.byteLength(f), 0);
  const pad = 'x'.repeat(Math.max(0, bytes - overhead - 8));
  const per = Math.max(1, Math.min(1000, Math.floor((4 << 20) / bytes)));
  for (let start = 0; start < n; start += per) {
    const p = redis.pipeline();
    for (let i = start; i < Math.min(n, start + per); i++) {
      p.xadd(stream, '*', ...toFields({ specversion: '1.0', id: `bench-${i}`, source: 'bench', type: 'noop', time: new Date().toISOString(), datacontenttype: 'application/json', data: { i, pad }, correlationid: `c-${i}` }));
    }
    await p.exec();
  }
}

function ownReader(url: string, stream: string, group: string): Reader {
  const c = new StreamConsumer({ url, stream, group, consumer: 'c', blockMs: 100 });
  return { read: (count) => c.read(count, undefined, false), close: () => c.close() };
}

function ioredisReader(url: string, stream: string, group: string): Reader {
  const r = new Redis(url, { enableAutoPipelining: false, maxRetriesPerRequest: 0 });
  return {
    async read(count) {
      const reply = (await r.xreadgroup('GROUP', group, 'c', 'COUNT', count, 'STREAMS', stream, '>')) as [string, RawEntry[]][] | null;
      return reply?.[0]?.[1] ?? [];
    },
    close: () => r.disconnect(),
  };
}

interface Timed {
  eventsPerS: number;
  mbPerS: number;
  cpuUsPerEvent: number;
}

/** Reads the whole stream through a new group; wall time and this process's CPU time. */
async function timeReader(admin: Redis, make: (group: string) => Reader, stream: string, group: string, bytes: number): Promise<Timed> {
  await admin.call('XGROUP', 'CREATE', stream, group, '0');
  const reader = make(group);
  try {
    await reader.read(1); // connect outside the timed part
    let n = 1;
    const cpu0 = process.cpuUsage();
    const t0 = monoMs();
    for (;;) {
      const got = await reader.read(BATCH);
      if (got.length === 0) break;
      n += got.length;
    }
    const seconds = (monoMs() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { eventsPerS: n / seconds, mbPerS: (n * bytes) / seconds / 1e6, cpuUsPerEvent: (cpu.user + cpu.system) / n };
  } finally {
    reader.close();
    await admin.call('XGROUP', 'DESTROY', stream, group);
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function runSize(ctx: BenchContext, admin: Redis, label: string, bytes: number, n: number): Promise<void> {
  const stream = `bench:protocol:${label}`;
  ctx.progress(`${label}: filling ${n} entries of ~${bytes} B`);
  await fillSized(admin, stream, n, bytes);
  const subjects: Array<[string, (g: string) => Reader]> = [
    ['own', (g) => ownReader(ctx.redisUrl, stream, g)],
    ['ioredis', (g) => ioredisReader(ctx.redisUrl, stream, g)],
  ];
  const runs = new Map<string, Timed[]>(subjects.map(([k]) => [k, []]));
  // One untimed pass each (JIT warm-up), then REPS alternating timed passes.
  for (const [name, make] of subjects) await timeReader(admin, make, stream, `warm-${name}`, bytes);
  for (let rep = 1; rep <= REPS; rep++) {
    for (const [name, make] of rep % 2 ? subjects : [...subjects].reverse()) runs.get(name)!.push(await timeReader(admin, make, stream, `${name}${rep}`, bytes));
  }
  const med = (name: string, k: keyof Timed): number => median(runs.get(name)!.map((r) => r[k]));
  for (const [name] of subjects) {
    ctx.figure(`protocol_${label}_${name}_events_per_s`, med(name, 'eventsPerS'), 'events/s');
    ctx.figure(`protocol_${label}_${name}_mb_per_s`, med(name, 'mbPerS'), 'MB/s');
    ctx.figure(`protocol_${label}_${name}_cpu_us_per_event`, med(name, 'cpuUsPerEvent'), 'µs');
  }
  ctx.figure(`protocol_${label}_cpu_ratio_ioredis_vs_own`, med('ioredis', 'cpuUsPerEvent') / med('own', 'cpuUsPerEvent'), '×');
  ctx.figure(`protocol_${label}_rate_ratio_own_vs_ioredis`, med('own', 'eventsPerS') / med('ioredis', 'eventsPerS'), '×');
  await admin.del(stream);
}

export const protocolReaders: Benchmark = {
  name: 'protocol',
  description: 'worker read path (XREADGROUP COUNT 100 → [id, fields]): own RESP reader vs ioredis, same Redis and entries, ~300 B, 64 KiB and 256 KiB events',
  async run(ctx) {
    const admin = new Redis(ctx.redisUrl);
    try {
      for (const [label, bytes, n] of SIZES) await runSize(ctx, admin, label, bytes, n);
    } finally {
      admin.disconnect();
    }
  },
};
