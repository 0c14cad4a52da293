/**
 * The demo's middle stages: sampling every second, waiting for the minimum of workers, the load
 * scenario, and the drain until the backlog is empty and the replicas are back at the minimum.
 */
import type { ChildService } from './child-service';
import { StartupError, sleep, type DemoProcesses } from './demo-processes';
import type { LiveView } from './live-view';
import type { LoadDriver } from './load-driver';
import type { Sample } from './sample';
import type { Sampler } from './sampler';
import type { Scenario } from './scenario';

/** What the stages share with the run: its clock, phase and timeline. */
export interface LoadRun {
  readonly signal: AbortSignal;
  readonly timeline: Sample[];
  /** Start of the load (ms), 0 before. */
  loadStartedAt: number;
  phase: string;
}

/** Samples every second until `stop` aborts; rows after the load started go to the timeline. */
export async function sampleEverySecond(run: LoadRun, o: { sampler: Sampler; load: LoadDriver; view: LiveView; stop: AbortSignal }): Promise<void> {
  while (!o.stop.aborted) {
    const t0 = Date.now();
    const s = await o.sampler.sample(run.loadStartedAt ? (t0 - run.loadStartedAt) / 1000 : -1, run.phase, o.load.counts().published);
    if (run.loadStartedAt) run.timeline.push(s);
    o.view.update(s);
    await sleep(Math.max(0, 1000 - (Date.now() - t0)), o.stop);
  }
}

/** Waits (at most 30 s) until the autoscaler runs `minReplicas` worker processes, then for the group. */
export async function waitForMinimum(run: LoadRun, procs: DemoProcesses, autoscaler: ChildService, minReplicas: number, logFile: string): Promise<void> {
  run.phase = 'starting';
  const readyBy = Date.now() + 30_000;
  while (!run.signal.aborted && procs.workers(autoscaler).length < minReplicas) {
    if (Date.now() > readyBy) throw new StartupError(`the autoscaler did not start ${minReplicas} worker process(es) within 30 s; see ${logFile}:\n${autoscaler.logTail(8)}`);
    await sleep(200, run.signal);
  }
  if (minReplicas > 0) await sleep(1000, run.signal); // the worker creates the group and starts reading
}

/** Runs the scenario's phases through the load driver. */
export async function runLoad(run: LoadRun, scenario: Scenario, load: LoadDriver, say: (m: string) => void, durationS: number): Promise<void> {
  if (run.signal.aborted) return;
  run.loadStartedAt = Date.now();
  run.phase = scenario.phases[0]!.name;
  say(`load: ${scenario.phases.map((p) => `${p.name} ${p.durationS}s`).join(', ')} (DEMO_DURATION=${durationS})`);
  await load.run(scenario.phases, run.signal, (p) => {
    run.phase = p.name;
  });
}

/** Waits until the backlog is empty, the poison events are dead-lettered and the replicas are back at the minimum. */
export async function drain(run: LoadRun, o: { load: LoadDriver; minReplicas: number; durationS: number; say: (m: string) => void }): Promise<void> {
  if (run.signal.aborted) return;
  run.phase = 'drain';
  const limitMs = Math.max(30_000, o.durationS * 500);
  const drainBy = Date.now() + limitMs;
  for (;;) {
    const last = run.timeline[run.timeline.length - 1];
    const done =
      last !== undefined &&
      last.phase === 'drain' &&
      last.lag === 0 &&
      last.pending === 0 &&
      last.deadLetters >= o.load.counts().poison &&
      last.running === o.minReplicas;
    if (done || run.signal.aborted) return;
    if (Date.now() > drainBy) {
      o.say(`drain: not settled within ${Math.round(limitMs / 1000)} s; stopping anyway`);
      return;
    }
    await sleep(250, run.signal);
  }
}
