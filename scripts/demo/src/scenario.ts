/**
 * The demo's load scenario and the service settings that make it show something: pure functions of
 * DEMO_DURATION, so a 20 s smoke run and the default 2 minute run tell the same story.
 */

export type PhaseName = 'quiet' | 'ramp' | 'burst' | 'cooldown';

/** One phase of the load: a constant or linearly changing rate, plus poison events to publish in it. */
export interface Phase {
  name: PhaseName;
  /** What the phase shows, for the live view and the report. */
  description: string;
  /** Offset from the start of the load, in s. */
  startS: number;
  durationS: number;
  /** Rate at the start and at the end of the phase, in events/s (linear in between). */
  fromRate: number;
  toRate: number;
  /** Poison events (type {@link DemoTuning.poisonType}) published in the middle of the phase. */
  poison: number;
}

/** Settings of the worker and autoscaler for the demo (all derived from the duration). */
export interface DemoTuning {
  /** Simulated work per event (SIM_WORK_MS), in ms. */
  workMs: number;
  /** Events one worker handles at once (CONCURRENCY). */
  concurrency: number;
  /** Entries one worker reads per XREADGROUP (BATCH_SIZE). */
  batchSize: number;
  /** What one worker processes per second at most: concurrency × 1000 / workMs. */
  perWorkerRate: number;
  /** TARGET_PER_REPLICA: outstanding entries per replica (the lag mode; the rate mode before it measured a worker's rate). */
  targetPerReplica: number;
  /** TARGET_LAG_SECONDS of the rate mode: the backlog-age objective. */
  targetLagSeconds: number;
  /** POLL_INTERVAL_MS of the autoscaler. */
  pollIntervalMs: number;
  /** SCALE_DOWN_WINDOW_S: short enough to scale back within the last quiet phase. */
  scaleDownWindowS: number;
  /** COOLDOWN_S (only matters with MIN_REPLICAS=0). */
  cooldownS: number;
  /** MAX_DELIVERIES: a poison event goes to the dead-letter stream after this many failed deliveries. */
  maxDeliveries: number;
  /** CLAIM_IDLE_MS: how long an entry stays with a consumer before another may reclaim it. */
  claimIdleMs: number;
  /** SHUTDOWN_GRACE_MS of a worker being scaled down. */
  shutdownGraceMs: number;
  /** The event type the simulated handler always fails (SIM_POISON_TYPE). */
  poisonType: string;
}

export interface Scenario {
  phases: Phase[];
  /** Sum of the phase durations, in s. */
  totalS: number;
  /** Poison events over all phases. */
  poison: number;
  tuning: DemoTuning;
}

const round = (n: number): number => Math.round(n * 10) / 10;

/**
 * The scenario for `durationS` seconds: quiet (10 %), ramp (20 %), a steady burst of four workers'
 * worth that five workers keep up with (40 %: long enough for the lag mode's count to fall while the
 * workers keep up, issue 16), quiet again (30 %, long enough for the scale-down window and the drain
 * of the workers scaled down). The simulated handler waits 250 ms per event, 10 at a time (40 events/s
 * per worker): a timer, no CPU, so the story is the same on a loaded machine.
 */
export function buildScenario(durationS: number): Scenario {
  const workMs = 250;
  const concurrency = 10;
  const perWorkerRate = (concurrency * 1000) / workMs; // 40 events/s
  const quiet = Math.round(perWorkerRate / 10); // 4/s: one worker idles
  const shares: Array<[PhaseName, number, string, number, number, number]> = [
    ['quiet', 0.1, 'steady trickle: one worker is enough', quiet, quiet, 0],
    ['ramp', 0.2, 'load rises past what one worker takes', Math.round(perWorkerRate * 0.14), Math.round(perWorkerRate * 1.4), 1],
    ['burst', 0.4, 'a steady burst of four workers\' worth: replicas go up, then five keep up', perWorkerRate * 4, perWorkerRate * 4, 2],
    ['cooldown', 0.3, 'quiet again: the backlog drains, replicas go back to the minimum', quiet, quiet, 0],
  ];
  let at = 0;
  const phases: Phase[] = shares.map(([name, share, description, fromRate, toRate, poison]) => {
    const d = round(durationS * share);
    const p: Phase = { name, description, startS: round(at), durationS: d, fromRate, toRate, poison };
    at += d;
    return p;
  });
  return {
    phases,
    totalS: round(at),
    poison: phases.reduce((s, p) => s + p.poison, 0),
    tuning: {
      workMs,
      concurrency,
      batchSize: concurrency,
      perWorkerRate,
      targetPerReplica: 50,
      targetLagSeconds: 5,
      pollIntervalMs: durationS < 60 ? 500 : 1000,
      scaleDownWindowS: Math.min(30, Math.max(2, Math.round(durationS * 0.08))),
      cooldownS: Math.min(30, Math.max(2, Math.round(durationS * 0.08))),
      maxDeliveries: 3,
      claimIdleMs: 1500,
      shutdownGraceMs: 5000,
      poisonType: 'demo.poison',
    },
  };
}

/** The phase running at `tS` seconds into the load (the last one after the end). */
export function phaseAt(s: Scenario, tS: number): Phase {
  return s.phases.find((p) => tS < p.startS + p.durationS) ?? s.phases[s.phases.length - 1]!;
}

/** The target rate at `tS` seconds into the load, in events/s. */
export function rateAt(s: Scenario, tS: number): number {
  const p = phaseAt(s, tS);
  const f = p.durationS > 0 ? Math.min(1, Math.max(0, (tS - p.startS) / p.durationS)) : 1;
  return p.fromRate + (p.toRate - p.fromRate) * f;
}
