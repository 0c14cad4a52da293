/**
 * The demo's last stages, after the services stopped: the final counts read from Redis, the demo's
 * own keys deleted (with the user's Redis), the private redis-server stopped, and the summary.
 */
import type Redis from 'ioredis';
import { deadLetterKey, idempotencyPattern, type LocalRedis } from '@stream-workers/core';
import type { StopRecord } from './demo-processes';
import { ledgerKey } from './handler';
import type { LoadDriver } from './load-driver';
import { processesInGroups } from './process-table';
import { readLedger, readRedisStats } from './redis-stats';
import { checksOf, lostOf, replicasOf, type Counts, type GroupView, type ProcessRecord, type Summary } from './summary';

/** Final counts, read from Redis after the workers and the producer stopped. */
export async function countRun(redis: Redis | undefined, stream: string, group: string, load: LoadDriver | undefined): Promise<{ counts: Counts; group: GroupView; error?: string }> {
  const lc = load?.counts() ?? { published: 0, failed: 0, poison: 0 };
  const base = { published: lc.published, publishFailed: lc.failed, poisonPublished: lc.poison };
  const empty: GroupView = { entriesRead: null, lag: null, pending: null, consumers: null };
  const zero = { ...base, entriesAdded: 0, processed: 0, duplicates: 0, deadLettered: 0, unfinished: 0 };
  if (!redis) return { counts: { ...zero, lost: lostOf(zero) }, group: empty };
  try {
    const [stats, ledger] = await Promise.all([readRedisStats(redis, stream, group), readLedger(redis, stream)]);
    const g = stats.group;
    // Not yet handled: entries never delivered (lag; without a group, the whole stream) plus delivered but not acked (pending).
    const unfinished = g ? (g.lag ?? 0) + g.pending : stats.length;
    const c = { ...base, entriesAdded: stats.entriesAdded, processed: ledger.unique, duplicates: ledger.completions - ledger.unique, deadLettered: stats.deadLetters, unfinished };
    return { counts: { ...c, lost: lostOf(c) }, group: g ? { entriesRead: g.entriesRead, lag: g.lag, pending: g.pending, consumers: g.consumers } : empty };
  } catch (err) {
    return { counts: { ...zero, lost: lostOf(zero) }, group: empty, error: err instanceof Error ? err.message : String(err) };
  }
}

/** With the user's Redis: deletes the demo's stream, dead-letter stream, ledger and idempotency markers (its own keys only). */
export async function deleteDemoKeys(r: Redis, stream: string): Promise<void> {
  await r.del(stream, deadLetterKey(stream), ledgerKey(stream));
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', idempotencyPattern(stream), 'COUNT', 1000);
    cursor = next;
    if (keys.length) await r.unlink(...keys);
  } while (cursor !== '0');
}

/** Stops the private redis-server; anything left in its process group is an orphan, reported and killed. */
export async function stopEmbeddedRedis(embedded: LocalRedis): Promise<StopRecord> {
  const pid = embedded.pid;
  const killed = await embedded.stop({ signal: 'SIGTERM', graceMs: 5000 });
  const orphans = pid === undefined ? [] : processesInGroups([pid]);
  for (const o of orphans) {
    try {
      process.kill(o.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return [{ name: 'redis' }, { killed, orphans }];
}

/** Everything {@link buildSummary} needs from the run. */
export interface RunRecord {
  runId: string;
  startedAt: Date;
  interruptedBy: string | undefined;
  failure: string | undefined;
  redis: string;
  stream: string;
  group: string;
  config: Summary['config'];
  counted: Awaited<ReturnType<typeof countRun>>;
  stops: StopRecord[];
  started: ProcessRecord[];
  sourceErrors: Record<string, string>;
  timeline: Summary['timeline'];
}

/** The run's summary: outcome, counts, replica figures, checks and exit code. */
export function buildSummary(r: RunRecord): Summary {
  const orphans: ProcessRecord[] = r.stops.flatMap(([c, s]) => s.orphans.map((p) => ({ name: `${c.name} group: ${p.command.slice(0, 80)}`, pid: p.pid })));
  const outcome: Summary['outcome'] = r.interruptedBy !== undefined ? 'interrupted' : r.failure !== undefined ? 'failed' : 'completed';
  const replicas = replicasOf(r.timeline, r.config.minReplicas, r.config.maxReplicas);
  const processes = { started: r.started, orphans };
  const checks = checksOf({ counts: r.counted.counts, replicas, processes, outcome });
  const ok = outcome === 'completed' && checks.every((c) => c.ok);
  return {
    runId: r.runId,
    outcome,
    ok,
    exitCode: outcome === 'interrupted' ? 130 : ok ? 0 : 1,
    ...(r.interruptedBy ? { reason: `interrupted by ${r.interruptedBy}` } : r.failure ? { reason: r.failure } : {}),
    startedAt: r.startedAt.toISOString(),
    endedAt: new Date().toISOString(),
    elapsedS: (Date.now() - r.startedAt.getTime()) / 1000,
    redis: r.redis,
    stream: r.stream,
    group: r.group,
    deadLetterStream: deadLetterKey(r.stream),
    config: r.config,
    counts: r.counted.counts,
    group_at_end: r.counted.group,
    replicas,
    checks,
    processes,
    sourceErrors: { ...r.sourceErrors, ...(r.counted.error ? { accounting: r.counted.error } : {}) },
    timeline: r.timeline,
  };
}

