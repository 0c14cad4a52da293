import type { ScalingMode } from '@stream-workers/core';
import type { Sample } from './sample';
import type { Phase, DemoTuning } from './scenario';

/** The counts of a run, all counted (none assumed). */
export interface Counts {
  /** Events the load generator got an acknowledgement for (HTTP 2xx from the producer). */
  published: number;
  /** Events the load generator sent without an acknowledgement (errors, timeouts, rejections). */
  publishFailed: number;
  /** Poison events among `published`. */
  poisonPublished: number;
  /** Stream entries appended (XINFO STREAM entries-added): should equal `published`. */
  entriesAdded: number;
  /** Distinct events whose handler completed (the demo handler's ledger in Redis). */
  processed: number;
  /** Handler completions beyond the first per event (at-least-once redeliveries). */
  duplicates: number;
  /** Entries in the dead-letter stream. */
  deadLettered: number;
  /** Entries still in the group's backlog at the end (lag + pending): only non-zero when interrupted. */
  unfinished: number;
  /** published − processed − dead-lettered − unfinished: events acknowledged to the producer that no one can account for. */
  lost: number;
}

/** What Redis says about the group at the end (cross-check of the ledger). */
export interface GroupView {
  entriesRead: number | null;
  lag: number | null;
  pending: number | null;
  consumers: number | null;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ProcessRecord {
  name: string;
  pid: number;
}

export interface Summary {
  runId: string;
  outcome: 'completed' | 'interrupted' | 'failed';
  ok: boolean;
  exitCode: number;
  /** Why the run failed or was interrupted. */
  reason?: string;
  startedAt: string;
  endedAt: string;
  elapsedS: number;
  redis: string;
  stream: string;
  group: string;
  deadLetterStream: string;
  config: {
    durationS: number;
    /** SCALING_MODE of the autoscaler in this run. */
    scalingMode: ScalingMode;
    minReplicas: number;
    maxReplicas: number;
    tuning: DemoTuning;
    phases: Phase[];
    services: Record<string, Record<string, string>>;
  };
  counts: Counts;
  group_at_end: GroupView;
  replicas: {
    min: number;
    max: number;
    /** Highest number of worker processes running during the burst phase. */
    peakDuringBurst: number;
    peakRunning: number;
    peakDesired: number | null;
    /** Worker processes running at the last sample before shutdown. */
    atEnd: number | null;
  };
  checks: Check[];
  processes: {
    /** Every process the demo started (services, redis-server, and every worker process seen). */
    started: ProcessRecord[];
    /** Processes of the demo's process groups still alive after shutdown (and then killed): must be empty. */
    orphans: ProcessRecord[];
  };
  /** Sources that did not answer during the run (last error each). */
  sourceErrors: Record<string, string>;
  timeline: Sample[];
}

/** lost = published − processed − dead-lettered − unfinished (never negative: more processed than published is reported as a check). */
export function lostOf(c: Omit<Counts, 'lost'>): number {
  return Math.max(0, c.published - c.processed - c.deadLettered - c.unfinished);
}

/** The checks of a run; `completed` adds the ones only a full run can pass. */
export function checksOf(s: Pick<Summary, 'counts' | 'replicas' | 'processes' | 'outcome'>): Check[] {
  const c = s.counts;
  const checks: Check[] = [
    { name: 'nothing lost', ok: c.lost === 0, detail: `published ${c.published} = processed ${c.processed} + dead-lettered ${c.deadLettered} + unfinished ${c.unfinished} (lost ${c.lost})` },
    {
      name: 'every appended entry acknowledged to the producer',
      ok: c.entriesAdded === c.published,
      detail: `stream entries appended ${c.entriesAdded}, acknowledged ${c.published}`,
    },
    { name: 'no process left running', ok: s.processes.orphans.length === 0, detail: s.processes.orphans.length === 0 ? 'every child exited' : `orphans killed: ${s.processes.orphans.map((p) => `${p.name}:${p.pid}`).join(', ')}` },
  ];
  if (s.outcome === 'completed') {
    checks.push(
      { name: 'backlog drained', ok: c.unfinished === 0, detail: `${c.unfinished} entries left in lag + pending` },
      { name: 'poison events dead-lettered', ok: c.deadLettered === c.poisonPublished, detail: `${c.deadLettered} dead letters for ${c.poisonPublished} poison events` },
      {
        name: 'scaled above the minimum during the burst',
        ok: s.replicas.peakDuringBurst > s.replicas.min,
        detail: `peak ${s.replicas.peakDuringBurst} worker processes during the burst (min ${s.replicas.min}, max ${s.replicas.max})`,
      },
      { name: 'back at the minimum at the end', ok: s.replicas.atEnd === s.replicas.min, detail: `${s.replicas.atEnd ?? '–'} worker processes at the end (min ${s.replicas.min})` },
    );
  }
  return checks;
}

/** Replica figures from the timeline. */
export function replicasOf(timeline: readonly Sample[], min: number, max: number): Summary['replicas'] {
  const load = timeline.filter((s) => s.phase !== 'stopping');
  const burst = load.filter((s) => s.phase === 'burst');
  const desired = load.map((s) => s.desired).filter((v): v is number => v !== null);
  return {
    min,
    max,
    peakDuringBurst: Math.max(0, ...burst.map((s) => s.running)),
    peakRunning: Math.max(0, ...load.map((s) => s.running)),
    peakDesired: desired.length ? Math.max(...desired) : null,
    atEnd: load.length ? load[load.length - 1]!.running : null,
  };
}
