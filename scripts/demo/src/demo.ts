import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type Redis from 'ioredis';
import { LocalRedis, closeRedis, createRedis, deadLetterKey, freePort, redactUrl } from '@stream-workers/core';
import { ChildService, type ChildStopResult } from './child-service';
import { ledgerKey } from './handler';
import { LiveView } from './live-view';
import { processesInGroups } from './process-table';
import type { LoadDriver } from './load-driver';
import { readLedger, readRedisStats } from './redis-stats';
import type { Sample } from './sample';
import { Sampler } from './sampler';
import { buildScenario, type Scenario } from './scenario';
import { checksOf, lostOf, replicasOf, type Counts, type GroupView, type ProcessRecord, type Summary } from './summary';

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

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

class StartupError extends Error {}

/**
 * The whole demo: Redis, the lag exporter, the producer and the autoscaler (which runs the worker
 * processes), the load scenario, the live view, an orderly shutdown (also on {@link interrupt}) and
 * the report. `run()` resolves with the summary; it does not throw for anything that happens after
 * the report directory exists.
 */
export class Demo {
  readonly scenario: Scenario;
  private readonly abort = new AbortController();
  private interruptedBy: string | undefined;
  private failure: string | undefined;
  private readonly children: ChildService[] = [];
  private readonly started: ProcessRecord[] = [];
  private embedded: LocalRedis | undefined;
  private redis: Redis | undefined;
  private readonly view: LiveView;
  private readonly stream: string;
  private readonly group = 'workers';
  private readonly timeline: Sample[] = [];
  private readonly serviceEnv: Record<string, Record<string, string>> = {};
  private loadStartedAt = 0;
  private phase = 'starting';

  constructor(private readonly opts: DemoOptions) {
    this.scenario = buildScenario(opts.durationS);
    // Against the user's Redis the demo never touches existing keys: its stream name is unique.
    this.stream = opts.redisUrl ? `demo-${opts.runId}` : 'events';
    this.view = new LiveView({
      mode: opts.view,
      totalS: this.scenario.totalS,
      minReplicas: opts.minReplicas,
      maxReplicas: opts.maxReplicas,
      poison: this.scenario.poison,
      ...(opts.out ? { out: opts.out } : {}),
    });
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
    for (const c of this.children) c.killGroup('SIGKILL');
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

  private path(...p: string[]): string {
    return resolve(this.opts.repoRoot, ...p);
  }

  private env(extra: Record<string, string>): Record<string, string> {
    return { ...this.opts.baseEnv, DEMO_RUN_ID: this.opts.runId, LOG_LEVEL: this.opts.logLevel, ...extra };
  }

  private spawn(name: string, script: string, env: Record<string, string>): ChildService {
    const shown = { ...env };
    delete shown.PATH;
    delete shown.HOME;
    if (shown.REDIS_URL) shown.REDIS_URL = redactUrl(shown.REDIS_URL);
    this.serviceEnv[name] = shown;
    const c = new ChildService({ name, command: [process.execPath, this.path(script)], env: this.env(env), logFile: join(this.logDir, `${name}.log`), cwd: this.opts.repoRoot });
    this.children.push(c);
    if (c.pid !== undefined) this.started.push({ name, pid: c.pid });
    void c.exited.then((e) => {
      if (!this.abort.signal.aborted) this.fail(`${name} exited unexpectedly (code ${e.code}, signal ${e.signal}); see ${join(this.logDir, `${name}.log`)}:\n${c.logTail(8)}`);
    });
    return c;
  }

  /** Polls `GET <url>/readyz` until 200, the child exits, the run aborts or `timeoutMs` passes. */
  private async waitReady(c: ChildService, url: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (!this.abort.signal.aborted) {
      if (c.exitStatus !== undefined) return; // reported by the exit watcher
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return;
        last = `HTTP ${res.status} ${(await res.text()).trim()}`;
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() > deadline) throw new StartupError(`${c.name} not ready within ${timeoutMs / 1000} s (${last}); see ${join(this.logDir, `${c.name}.log`)}:\n${c.logTail(8)}`);
      await sleep(100, this.abort.signal);
    }
  }

  private workerProcesses(autoscaler: ChildService) {
    return autoscaler.processes().filter((p) => p.pid !== autoscaler.pid);
  }

  async run(): Promise<Summary> {
    const startedAt = new Date();
    const { tuning } = this.scenario;
    for (const f of ['index.html', 'chart.png', 'summary.json']) rmSync(join(this.opts.reportDir, f), { force: true });
    rmSync(this.logDir, { recursive: true, force: true });
    mkdirSync(this.logDir, { recursive: true });

    let sampler: Sampler | undefined;
    let load: LoadDriver | undefined;
    let autoscaler: ChildService | undefined;
    let loadDone: Promise<void> = Promise.resolve();
    let sampling: Promise<void> = Promise.resolve();
    const stopSampling = new AbortController();
    try {
      // 1. Redis.
      let redisUrl = this.opts.redisUrl;
      if (!redisUrl) {
        this.view.message('starting a private redis-server…');
        // Its own process group: a Ctrl-C in the terminal does not stop it before the workers have
        // handed back what they hold; the demo stops it last.
        this.embedded = await LocalRedis.start({ args: ['--appendonly', 'no'], logFile: join(this.logDir, 'redis.log'), env: this.env({}), detached: true }).catch((err: unknown) => {
          throw new StartupError(`the private redis-server could not start: ${err instanceof Error ? err.message : String(err)}`);
        });
        if (this.embedded.pid !== undefined) this.started.push({ name: 'redis-server', pid: this.embedded.pid });
        redisUrl = this.embedded.url;
      }
      this.redis = createRedis({ url: redisUrl, role: 'command', name: 'demo' });
      try {
        await this.redis.ping();
      } catch (err) {
        throw new StartupError(`cannot reach Redis at ${redactUrl(redisUrl)}: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.view.message(`Redis ${this.embedded ? `(private, port ${this.embedded.port})` : redactUrl(redisUrl)} · stream ${this.stream} · group ${this.group} · logs in ${this.logDir}/`);

      // 2. Services, each on a free port.
      const [exporterPort, producerPort, autoscalerPort] = [await freePort(), await freePort(), await freePort()];
      const common = { REDIS_URL: redisUrl };
      const exporter = this.spawn('lag-exporter', 'services/lag-exporter/dist/main.js', { ...common, PORT: String(exporterPort), STREAMS: this.stream, GROUPS: this.group });
      const producer = this.spawn('producer', 'services/producer/dist/main.js', { ...common, PORT: String(producerPort), STREAMS: this.stream, MAXLEN: '0' });
      autoscaler = this.spawn('autoscaler', 'services/autoscaler/dist/main.js', {
        ...common,
        PORT: String(autoscalerPort),
        STREAM: this.stream,
        GROUP: this.group,
        TARGET_KIND: 'local',
        MIN_REPLICAS: String(this.opts.minReplicas),
        MAX_REPLICAS: String(this.opts.maxReplicas),
        TARGET_PER_REPLICA: String(tuning.targetPerReplica),
        POLL_INTERVAL_MS: String(tuning.pollIntervalMs),
        COOLDOWN_S: String(tuning.cooldownS),
        SCALE_DOWN_WINDOW_S: String(tuning.scaleDownWindowS),
        JANITOR_INTERVAL_MS: '5000',
        WORKER_SCRIPT: this.path('services/worker/dist/main.js'),
        // Inherited by every worker process the autoscaler starts:
        HANDLER: this.path('scripts/demo/dist/handler.js'),
        SIM_WORK_MS: String(tuning.workMs),
        SIM_POISON_TYPE: tuning.poisonType,
        CONCURRENCY: String(tuning.concurrency),
        BATCH_SIZE: String(tuning.batchSize),
        BLOCK_MS: '1000',
        MAX_DELIVERIES: String(tuning.maxDeliveries),
        CLAIM_IDLE_MS: String(tuning.claimIdleMs),
        SHUTDOWN_GRACE_MS: String(tuning.shutdownGraceMs),
      });
      const urls = { exporter: `http://127.0.0.1:${exporterPort}`, producer: `http://127.0.0.1:${producerPort}`, autoscaler: `http://127.0.0.1:${autoscalerPort}` };
      this.view.message('starting the lag exporter, the producer and the autoscaler…');
      await Promise.all([this.waitReady(exporter, urls.exporter), this.waitReady(producer, urls.producer), this.waitReady(autoscaler, urls.autoscaler)]);

      // 3. Sampling every second, from now on (so the chart shows the start).
      const as = autoscaler;
      sampler = new Sampler({ redis: this.redis, stream: this.stream, group: this.group, exporterUrl: urls.exporter, autoscalerUrl: urls.autoscaler, workers: () => this.workerProcesses(as) });
      const smp = sampler;
      load = this.opts.load({ producerUrl: urls.producer, stream: this.stream, poisonType: tuning.poisonType });
      const ld = load;
      sampling = (async () => {
        while (!stopSampling.signal.aborted) {
          const t0 = Date.now();
          const s = await smp.sample(this.loadStartedAt ? (t0 - this.loadStartedAt) / 1000 : -1, this.phase, ld.counts().published);
          for (const w of this.workerProcesses(as)) if (!this.started.some((p) => p.pid === w.pid)) this.started.push({ name: 'worker', pid: w.pid });
          if (this.loadStartedAt) this.timeline.push(s);
          this.view.update(s);
          await sleep(Math.max(0, 1000 - (Date.now() - t0)), stopSampling.signal);
        }
      })();

      // 4. Wait for the minimum of workers before the load starts.
      this.phase = 'starting';
      const readyBy = Date.now() + 30_000;
      while (!this.abort.signal.aborted && this.workerProcesses(as).length < this.opts.minReplicas) {
        if (Date.now() > readyBy) throw new StartupError(`the autoscaler did not start ${this.opts.minReplicas} worker process(es) within 30 s; see ${join(this.logDir, 'autoscaler.log')}:\n${as.logTail(8)}`);
        await sleep(200, this.abort.signal);
      }
      if (this.opts.minReplicas > 0) await sleep(1000, this.abort.signal); // the worker creates the group and starts reading

      // 5. The scenario.
      if (!this.abort.signal.aborted) {
        this.loadStartedAt = Date.now();
        this.phase = this.scenario.phases[0]!.name;
        this.view.message(`load: ${this.scenario.phases.map((p) => `${p.name} ${p.durationS}s`).join(', ')} (DEMO_DURATION=${this.opts.durationS})`);
        loadDone = ld.run(this.scenario.phases, this.abort.signal, (p) => {
          this.phase = p.name;
        });
        await loadDone;
      }

      // 6. Drain: until the backlog is empty, the poison events are dead-lettered and the replicas are back at the minimum.
      if (!this.abort.signal.aborted) {
        this.phase = 'drain';
        const drainBy = Date.now() + Math.max(30_000, this.opts.durationS * 500);
        for (;;) {
          const last = this.timeline[this.timeline.length - 1];
          const done =
            last !== undefined &&
            last.phase === 'drain' &&
            last.lag === 0 &&
            last.pending === 0 &&
            last.deadLetters >= ld.counts().poison &&
            last.running === this.opts.minReplicas;
          if (done || this.abort.signal.aborted) break;
          if (Date.now() > drainBy) {
            this.view.message(`drain: not settled within ${Math.round(Math.max(30_000, this.opts.durationS * 500) / 1000)} s; stopping anyway`);
            break;
          }
          await sleep(250, this.abort.signal);
        }
      }
    } catch (err) {
      this.fail(err instanceof StartupError || err instanceof Error ? err.message : String(err));
    }

    // 7. Shutdown, in order: load, sampling, autoscaler (stops its workers), producer, exporter; then count; then Redis.
    this.phase = 'stopping';
    this.abort.abort();
    await loadDone.catch(() => undefined);
    stopSampling.abort();
    await sampling.catch(() => undefined);
    this.view.close();
    const out = this.opts.out ?? process.stdout;
    const say = (s: string): void => void out.write(`${s}\n`);
    say(this.interrupted ? 'stopping the services…' : 'stopping the services (the autoscaler stops its workers)…');
    const stops: Array<[{ name: string }, Pick<ChildStopResult, 'killed' | 'orphans'>]> = [];
    const byName = (n: string) => this.children.find((c) => c.name === n);
    for (const [name, timeoutMs] of [
      ['autoscaler', this.scenario.tuning.shutdownGraceMs + 5000],
      ['producer', 5000],
      ['lag-exporter', 5000],
    ] as const) {
      const c = byName(name);
      if (c) stops.push([c, await c.stop(timeoutMs)]);
    }
    for (const c of this.children) if (!stops.some(([s]) => s === c)) stops.push([c, await c.stop(5000)]);

    const counts = await this.count(load);
    if (this.opts.redisUrl && this.redis && !this.opts.keepKeys) await this.deleteKeys().catch(() => undefined);
    if (this.redis) await closeRedis(this.redis);
    if (this.embedded) {
      const pid = this.embedded.pid;
      const killed = await this.embedded.stop({ signal: 'SIGTERM', graceMs: 5000 });
      // Anything left in its process group is an orphan: reported and killed.
      const orphans = pid === undefined ? [] : processesInGroups([pid]);
      for (const o of orphans) {
        try {
          process.kill(o.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      stops.push([{ name: 'redis' }, { killed, orphans }]);
    }

    const orphans: ProcessRecord[] = stops.flatMap(([c, r]) => r.orphans.map((p) => ({ name: `${c.name} group: ${p.command.slice(0, 80)}`, pid: p.pid })));
    for (const [c, r] of stops) if (r.killed) say(`${c.name} did not stop within its timeout and was killed`);
    const outcome: Summary['outcome'] = this.interrupted ? 'interrupted' : this.failure !== undefined ? 'failed' : 'completed';
    const replicas = replicasOf(this.timeline, this.opts.minReplicas, this.opts.maxReplicas);
    const processes = { started: this.started, orphans };
    const checks = checksOf({ counts: counts.counts, replicas, processes, outcome });
    const ok = outcome === 'completed' && checks.every((c) => c.ok);
    const summary: Summary = {
      runId: this.opts.runId,
      outcome,
      ok,
      exitCode: outcome === 'interrupted' ? 130 : ok ? 0 : 1,
      ...(this.interruptedBy ? { reason: `interrupted by ${this.interruptedBy}` } : this.failure ? { reason: this.failure } : {}),
      startedAt: startedAt.toISOString(),
      endedAt: new Date().toISOString(),
      elapsedS: (Date.now() - startedAt.getTime()) / 1000,
      redis: this.embedded ? 'private redis-server (stopped)' : redactUrl(this.opts.redisUrl ?? ''),
      stream: this.stream,
      group: this.group,
      deadLetterStream: deadLetterKey(this.stream),
      config: { durationS: this.opts.durationS, minReplicas: this.opts.minReplicas, maxReplicas: this.opts.maxReplicas, tuning: this.scenario.tuning, phases: this.scenario.phases, services: this.serviceEnv },
      counts: counts.counts,
      group_at_end: counts.group,
      replicas,
      checks,
      processes,
      sourceErrors: { ...Object.fromEntries(sampler?.errors ?? []), ...(load?.lastError() ? { load: load.lastError()! } : {}), ...(counts.error ? { accounting: counts.error } : {}) },
      timeline: this.timeline,
    };
    return summary;
  }

  /** Final counts, read from Redis after the workers and the producer stopped. */
  private async count(load: LoadDriver | undefined): Promise<{ counts: Counts; group: GroupView; error?: string }> {
    const lc = load?.counts() ?? { published: 0, failed: 0, poison: 0 };
    const base = { published: lc.published, publishFailed: lc.failed, poisonPublished: lc.poison };
    const empty: GroupView = { entriesRead: null, lag: null, pending: null, consumers: null };
    if (!this.redis) return { counts: { ...base, entriesAdded: 0, processed: 0, duplicates: 0, deadLettered: 0, unfinished: 0, lost: lostOf({ ...base, entriesAdded: 0, processed: 0, duplicates: 0, deadLettered: 0, unfinished: 0 }) }, group: empty };
    try {
      const [stats, ledger] = await Promise.all([readRedisStats(this.redis, this.stream, this.group), readLedger(this.redis, this.stream)]);
      const g = stats.group;
      // Not yet handled: entries never delivered (lag; without a group, the whole stream) plus delivered but not acked (pending).
      const unfinished = g ? (g.lag ?? 0) + g.pending : stats.length;
      const c = { ...base, entriesAdded: stats.entriesAdded, processed: ledger.unique, duplicates: ledger.completions - ledger.unique, deadLettered: stats.deadLetters, unfinished };
      return { counts: { ...c, lost: lostOf(c) }, group: g ? { entriesRead: g.entriesRead, lag: g.lag, pending: g.pending, consumers: g.consumers } : empty };
    } catch (err) {
      const c = { ...base, entriesAdded: 0, processed: 0, duplicates: 0, deadLettered: 0, unfinished: 0 };
      return { counts: { ...c, lost: lostOf(c) }, group: empty, error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** With the user's Redis: deletes the demo's stream, dead-letter stream, ledger and idempotency markers (its own keys only). */
  private async deleteKeys(): Promise<void> {
    const r = this.redis!;
    await r.del(this.stream, deadLetterKey(this.stream), ledgerKey(this.stream));
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${this.stream}:idem:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.unlink(...keys);
    } while (cursor !== '0');
  }
}
