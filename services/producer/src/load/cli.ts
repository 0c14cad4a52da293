#!/usr/bin/env node
/**
 * The load generator: `node services/producer/dist/load/cli.js --rate 5000 --duration 60
 * --shape steady|ramp|burst|waves --via redis|http --stream events [--url http://127.0.0.1:8080]
 * [--redis-url redis://…] [--poison-every N --poison-type poison] [--batch 100] [--max-events N]
 * [--concurrency 16]`. A progress line each second on stderr, one JSON summary line on stdout
 * (`{sent, acked, errors, durationS, rate}`), exit 1 when any event failed, 2 on bad arguments.
 */
import { LOAD_SHAPES, runLoad, type LoadOptions, type LoadShape } from './run-load';

const USAGE = `usage: load --rate N --duration S [--shape ${LOAD_SHAPES.join('|')}] [--via redis|http] [--stream events]
            [--url http://127.0.0.1:8080] [--redis-url redis://127.0.0.1:6379] [--batch 100] [--max-events N]
            [--poison-every N] [--poison-type poison] [--type load.test] [--concurrency 16]`;

class UsageError extends Error {}

function parseArgs(argv: string[]): LoadOptions {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') throw new UsageError('');
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(a)}`);
    const eq = a.indexOf('=');
    const [k, v] = eq > 0 ? [a.slice(2, eq), a.slice(eq + 1)] : [a.slice(2), argv[++i]];
    if (v === undefined) throw new UsageError(`--${k} needs a value`);
    values.set(k, v);
  }
  const known = ['rate', 'duration', 'shape', 'via', 'stream', 'url', 'redis-url', 'batch', 'max-events', 'poison-every', 'poison-type', 'type', 'concurrency'];
  for (const k of values.keys()) if (!known.includes(k)) throw new UsageError(`unknown option --${k}`);
  const num = (k: string, min: number, def?: number): number | undefined => {
    const raw = values.get(k);
    if (raw === undefined) return def;
    const n = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || !(n >= min)) throw new UsageError(`--${k} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const rate = num('rate', 0.001);
  const durationS = num('duration', 0.001);
  if (rate === undefined) throw new UsageError('--rate is required');
  if (durationS === undefined) throw new UsageError('--duration is required');
  const shape = (values.get('shape') ?? 'steady') as LoadShape;
  if (!LOAD_SHAPES.includes(shape)) throw new UsageError(`--shape must be one of ${LOAD_SHAPES.join(', ')}`);
  const via = values.get('via') ?? 'redis';
  if (via !== 'redis' && via !== 'http') throw new UsageError('--via must be redis or http');
  const opts: LoadOptions = { rate, durationS, shape, via, stream: values.get('stream') ?? 'events' };
  if (values.has('url')) opts.url = values.get('url')!;
  if (values.has('redis-url')) opts.redisUrl = values.get('redis-url')!;
  opts.batch = num('batch', 1, 100)!;
  const maxEvents = num('max-events', 1);
  if (maxEvents !== undefined) opts.maxEvents = Math.floor(maxEvents);
  opts.poisonEvery = Math.floor(num('poison-every', 0, 0)!);
  if (values.has('poison-type')) opts.poisonType = values.get('poison-type')!;
  if (values.has('type')) opts.eventType = values.get('type')!;
  opts.concurrency = Math.floor(num('concurrency', 1, 16)!);
  return opts;
}

async function main(): Promise<void> {
  let opts: LoadOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message ? `load: ${err.message}\n` : ''}${USAGE}\n`);
      process.exit(err.message ? 2 : 0);
    }
    throw err;
  }
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  opts.signal = abort.signal;
  opts.onProgress = (p) =>
    process.stderr.write(`load: t=${p.elapsedS}s sent=${p.sent} acked=${p.acked} rate=${p.rate}/s target=${p.targetRate}/s errors=${p.errors}\n`);
  const summary = await runLoad(opts);
  if (summary.errorSamples.length > 0) process.stderr.write(`load: errors, e.g.: ${summary.errorSamples.join(' | ')}\n`);
  process.stdout.write(`${JSON.stringify({ sent: summary.sent, acked: summary.acked, errors: summary.errors, durationS: summary.durationS, rate: summary.rate })}\n`);
  process.exit(summary.errors > 0 ? 1 : 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`load: failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
