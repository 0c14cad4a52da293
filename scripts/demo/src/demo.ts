import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { closeRedis, redactUrl, type LocalRedis, type ScalingMode } from '@stream-workers/core';
import { buildSummary, countRun, deleteDemoKeys, stopEmbeddedRedis } from './demo-finish';
import { drain, runLoad, sampleEverySecond, waitForMinimum, type LoadRun } from './demo-load';
import { DemoProcesses } from './demo-processes';
import { startRedis, startServices, type DemoServices } from './demo-services';
import { LiveView } from './live-view';
import type { LoadDriver } from './load-driver';
import type { Sample } from './sample';
import { Sampler } from './sampler';
import { buildScenario, type Scenario } from './scenario';
import type { Summary } from './summary';

/** Options for {@link Demo}. */
export interface DemoOptions {
  /** Length of the load scenario, in s. */
  durationS: number;
  /** Use this Redis; unset = start a private redis-server. */
  redisUrl?: string;
  /** Report directory (created; its index.html, chart.png, summary.json and logs/ are replaced). */
  reportDir: string;
  minReplicas: number;
  maxReplicas: number;
  /** SCALING_MODE of the autoscaler; default `lag`. */
  scalingMode?: ScalingMode;
  /** Appended to the stream name with `redisUrl` (two runs of DEMO_SCALING=both on one Redis). */
  streamSuffix?: string;
  /** `tty` redraws a table, `plain` prints lines. */
  view: 'tty' | 'plain';
  /** LOG_LEVEL of the services. */
  logLevel: string;
  /** With `redisUrl`: keep the demo's keys after the run. */
  keepKeys: boolean;
  /** Set as DEMO_RUN_ID in the environment of every process the demo starts. */
  runId: string;
  /** Root of the repository (where services/ lives). */
  repoRoot: string;
  /** Variables every child inherits (PATH, HOME, …). */
  baseEnv: Record<string, string>;
  /** Makes the load driver for the producer at `producerUrl` (and the stream). */
  load: (target: { producerUrl: string; stream: string; poisonType: string }) => LoadDriver;
  /** Where the live view writes; default process.stdout. */
  out?: NodeJS.WritableStream;
}

/** What the stages of one run leave for the shutdown and the summary. */
interface Running {
  services?: DemoServices;
  sampler?: Sampler;
  load?: LoadDriver;
  loadDone: Promise<void>;
  sampling: Promise<void>;
  stopSampling: AbortController;
}

/**
 * The whole demo: Redis, the lag exporter, the producer and the autoscaler (which runs the worker
 * processes), the load scenario, the live view, an orderly shutdown (also on {@link interrupt}) and
 * the report. `run()` resolves with the summary; it does not throw for anything that happens after
 * the report directory exists. The stages are in demo-services.ts, demo-load.ts and demo-finish.ts.
 */
export class Demo {
  readonly scenario: Scenario;
  private readonly abort = new AbortController();
  private interruptedBy: string | undefined;
  private failure: string | undefined;
  private readonly procs: DemoProcesses;
  private embedded: LocalRedis | undefined;
  private redis: Redis | undefined;
  private readonly view: LiveView;
  private readonly stream: string;
  private readonly group = 'workers';
  private readonly scalingMode: ScalingMode;
  private readonly loadRun: LoadRun;

  constructor(private readonly opts: DemoOptions) {
    this.scenario = buildScenario(opts.durationS);
    this.scalingMode = opts.scalingMode ?? 'lag';
    // Against the user's Redis the demo never touches existing keys: its stream name is unique.
    this.stream = opts.redisUrl ? `demo-${opts.runId}${opts.streamSuffix ?? ''}` : 'events';
    this.view = new LiveView({
      mode: opts.view,
      totalS: this.scenario.totalS,
      minReplicas: opts.minReplicas,
      maxReplicas: opts.maxReplicas,
      poison: this.scenario.poison,
      ...(opts.out ? { out: opts.out } : {}),
    });
    this.procs = new DemoProcesses({
      repoRoot: opts.repoRoot,
      logDir: this.logDir,
      env: this.env(),
      signal: this.abort.signal,
      onUnexpectedExit: (reason) => this.fail(reason),
    });
    this.loadRun = { signal: this.abort.signal, timeline: [] as Sample[], loadStartedAt: 0, phase: 'starting' };
  }

  get interrupted(): boolean {
    return this.interruptedBy !== undefined;
  }

  /** Stops the run as soon as possible (Ctrl-C): the load stops, the services stop in order, the report is written. */
  interrupt(reason: string): void {
    if (this.interruptedBy !== undefined) return;
    this.interruptedBy = reason;
    this.view.message(`\n${reason}: stopping the load and the services…`);
    this.abort.abort();
  }

  /** Second Ctrl-C: SIGKILL every process group the demo started, now. */
  forceKill(): void {
    this.procs.killAll();
    this.embedded?.killGroup('SIGKILL');
  }

  private fail(reason: string): void {
    if (this.failure !== undefined || this.interrupted) return;
    this.failure = reason;
    this.view.message(`\nerror: ${reason}`);
    this.abort.abort();
  }

  private get logDir(): string {
    return join(this.opts.reportDir, 'logs');
  }

  private env(): Record<string, string> {
    return { ...this.opts.baseEnv, DEMO_RUN_ID: this.opts.runId, LOG_LEVEL: this.opts.logLevel };
  }

  async run(): Promise<Summary> {
    const startedAt = new Date();
    for (const f of ['index.html', 'chart.png', 'summary.json']) rmSync(join(this.opts.reportDir, f), { force: true });
    rmSync(this.logDir, { recursive: true, force: true });
    mkdirSync(this.logDir, { recursive: true });
    const running: Running = { loadDone: Promise.resolve(), sampling: Promise.resolve(), stopSampling: new AbortController() };
    try {
      await this.startAll(running);
      await this.runScenario(running);
    } catch (err) {
      this.fail(err instanceof Error ? err.message : String(err));
    }
    return this.shutdown(running, startedAt);
  }

  /** Stages 1–3: Redis, the services, sampling from now on (so the chart shows the start). */
  private async startAll(running: Running): Promise<void> {
    const say = (m: string) => this.view.message(m);
    const r = await startRedis({
      redisUrl: this.opts.redisUrl,
      logDir: this.logDir,
      env: this.env(),
      say,
      onEmbedded: (e) => {
        this.embedded = e;
        if (e.pid !== undefined) this.procs.started.push({ name: 'redis-server', pid: e.pid });
      },
    });
    this.redis = r.redis;
    say(`Redis ${this.embedded ? `(private, port ${this.embedded.port})` : redactUrl(r.url)} · stream ${this.stream} · group ${this.group} · SCALING_MODE=${this.scalingMode} · logs in ${this.logDir}/`);
    say('starting the lag exporter, the producer and the autoscaler…');
    const { tuning } = this.scenario;
    const services = await startServices(this.procs, { redisUrl: r.url, stream: this.stream, group: this.group, minReplicas: this.opts.minReplicas, maxReplicas: this.opts.maxReplicas, scalingMode: this.scalingMode, tuning });
    running.services = services;
    const as = services.autoscaler;
    running.sampler = new Sampler({ redis: r.redis, stream: this.stream, group: this.group, exporterUrl: services.urls.exporter, autoscalerUrl: services.urls.autoscaler, workers: () => this.procs.workers(as) });
    running.load = this.opts.load({ producerUrl: services.urls.producer, stream: this.stream, poisonType: tuning.poisonType });
    running.sampling = sampleEverySecond(this.loadRun, { sampler: running.sampler, load: running.load, view: this.view, stop: running.stopSampling.signal });
  }

  /** Stages 4–6: the minimum of workers, the load, the drain. */
  private async runScenario(running: Running): Promise<void> {
    const { services, load } = running;
    if (!services || !load) return;
    const say = (m: string) => this.view.message(m);
    await waitForMinimum(this.loadRun, this.procs, services.autoscaler, this.opts.minReplicas, this.procs.logFile('autoscaler'));
    running.loadDone = runLoad(this.loadRun, this.scenario, load, say, this.opts.durationS);
    await running.loadDone;
    await drain(this.loadRun, { load, minReplicas: this.opts.minReplicas, durationS: this.opts.durationS, say });
  }

  /** Stage 7: load, sampling, services in order (the autoscaler stops its workers); counts; Redis; the summary. */
  private async shutdown(running: Running, startedAt: Date): Promise<Summary> {
    this.loadRun.phase = 'stopping';
    this.abort.abort();
    await running.loadDone.catch(() => undefined);
    running.stopSampling.abort();
    await running.sampling.catch(() => undefined);
    this.view.close();
    const out = this.opts.out ?? process.stdout;
    const say = (s: string): void => void out.write(`${s}\n`);
    say(this.interrupted ? 'stopping the services…' : 'stopping the services (the autoscaler stops its workers)…');
    const stops = await this.procs.stopAll(this.scenario.tuning.shutdownGraceMs + 5000);
    const counted = await countRun(this.redis, this.stream, this.group, running.load);
    if (this.opts.redisUrl && this.redis && !this.opts.keepKeys) await deleteDemoKeys(this.redis, this.stream).catch(() => undefined);
    if (this.redis) await closeRedis(this.redis);
    if (this.embedded) stops.push(await stopEmbeddedRedis(this.embedded));
    for (const [c, r] of stops) if (r.killed) say(`${c.name} did not stop within its timeout and was killed`);
    const loadError = running.load?.lastError();
    return buildSummary({
      runId: this.opts.runId,
      startedAt,
      interruptedBy: this.interruptedBy,
      failure: this.failure,
      redis: this.embedded ? 'private redis-server (stopped)' : redactUrl(this.opts.redisUrl ?? ''),
      stream: this.stream,
      group: this.group,
      config: { durationS: this.opts.durationS, scalingMode: this.scalingMode, minReplicas: this.opts.minReplicas, maxReplicas: this.opts.maxReplicas, tuning: this.scenario.tuning, phases: this.scenario.phases, services: this.procs.serviceEnv },
      counted,
      stops,
      started: this.procs.started,
      sourceErrors: { ...Object.fromEntries(running.sampler?.errors ?? []), ...(loadError ? { load: loadError } : {}) },
      timeline: this.loadRun.timeline,
    });
  }
}
