/**
 * `make bench [BENCH=name,...]`: runs the benchmarks in sequence on one private redis-server,
 * prints a table, and writes bench/results/latest.json and latest.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { cpus, loadavg } from 'node:os';
import { BENCHMARKS } from './registry';
import { startBenchRedis, type BenchContext, type Figure } from './harness';

async function main(): Promise<number> {
  const wanted = (process.argv[2] ?? process.env.BENCH ?? '').split(',').filter(Boolean);
  const selected = wanted.length ? BENCHMARKS.filter((b) => wanted.includes(b.name)) : BENCHMARKS;
  if (selected.length === 0) {
    console.error(`no benchmark named ${wanted.join(',')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);
    return 2;
  }
  const redis = await startBenchRedis();
  const admin = new Redis(redis.url);
  const figures: Figure[] = [];
  const started = new Date();
  // Load averages (1, 5, 15 min) at start and end: a loaded machine lowers the ratios of CPU-bound subjects.
  const loadStart = loadavg().map((x) => Number(x.toFixed(2)));
  try {
    for (const b of selected) {
      console.error(`\n== ${b.name}: ${b.description}`);
      await admin.flushall();
      const ctx: BenchContext = {
        redisUrl: redis.url,
        figure: (key, value, unit) => {
          figures.push({ bench: b.name, key, value, ...(unit ? { unit } : {}) });
          console.error(`   ${key} = ${typeof value === 'number' ? round(value) : value}${unit ? ' ' + unit : ''}`);
        },
        goal: (key, value, kind, target, unit) => {
          const met = kind === 'min' ? value >= target : value <= target;
          figures.push({ bench: b.name, key, value, ...(unit ? { unit } : {}), goal: { key, value, kind, target, met } });
          console.error(`   ${key} = ${round(value)}${unit ? ' ' + unit : ''} (goal ${kind === 'min' ? '≥' : '≤'} ${target}: ${met ? 'met' : 'MISSED'})`);
        },
        progress: (m) => console.error(`   … ${m}`),
      };
      try {
        await b.run(ctx);
      } catch (err) {
        console.error(`   benchmark ${b.name} failed: ${err instanceof Error ? err.stack : String(err)}`);
        figures.push({ bench: b.name, key: `${b.name}_error`, value: err instanceof Error ? err.message : String(err) });
      }
    }
  } finally {
    admin.disconnect();
    await redis.stop();
  }
  const out = join(__dirname, '..', 'results');
  mkdirSync(out, { recursive: true });
  const flat: Record<string, number | string> = {};
  for (const f of figures) flat[f.key] = f.value;
  const loadEnd = loadavg().map((x) => Number(x.toFixed(2)));
  const json = { started: started.toISOString(), node: process.version, cpus: cpus().length, loadavg: { start: loadStart, end: loadEnd }, figures: flat, details: figures };
  writeFileSync(join(out, 'latest.json'), JSON.stringify(json, null, 2) + '\n');
  const md = [
    `# Benchmark results (${started.toISOString()}, Node ${process.version})`,
    '',
    `${cpus().length} CPUs; load average (1/5/15 min) ${loadStart.join(' / ')} at the start, ${loadEnd.join(' / ')} at the end.`,
    '',
    '| benchmark | figure | value | goal | |',
    '| --- | --- | --- | --- | --- |',
    ...figures.map((f) => `| ${f.bench} | ${f.key} | ${typeof f.value === 'number' ? round(f.value) : f.value}${f.unit ? ' ' + f.unit : ''} | ${f.goal ? (f.goal.kind === 'min' ? '≥ ' : '≤ ') + f.goal.target : ''} | ${f.goal ? (f.goal.met ? 'met' : '**missed**') : ''} |`),
  ].join('\n');
  writeFileSync(join(out, 'latest.md'), md + '\n');
  console.log('\n' + md);
  const missed = figures.filter((f) => f.goal && !f.goal.met).length;
  console.log(`\n${figures.filter((f) => f.goal).length - missed} goals met, ${missed} missed; written to bench/results/latest.json and latest.md`);
  return 0;
}

function round(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
}

main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(1);
});
