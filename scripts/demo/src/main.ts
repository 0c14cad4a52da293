#!/usr/bin/env node
/**
 * `make demo`: the whole system on this machine (see docs/demo.md). Reads DEMO_* variables
 * (config.ts), runs the {@link Demo}, writes the report and exits 0 when the run completed and every
 * check passed, 1 when a check failed or a service could not start, 130 when interrupted (Ctrl-C),
 * 2 on a bad variable.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describeStartupError, startupExitCode } from '@stream-workers/core';
import { demoConfig } from './config';
import { Demo } from './demo';
import { GeneratorLoad } from './generator-load';
import { writeReport } from './report';
import { figuresOf, writeComparison } from './comparison';
import type { Summary } from './summary';
import type { ScalingMode } from '@stream-workers/core';

type Config = ReturnType<typeof demoConfig.parse>;

/** One demo run in `mode`, its report in `reportDir`; `current` lets a signal reach the running one. */
function makeDemo(config: Config, mode: ScalingMode, reportDir: string, runId: string, both: boolean): Demo {
  const baseEnv: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) if (process.env[k]) baseEnv[k] = process.env[k]!;
  const view = config.view === 'auto' ? (process.stdout.isTTY ? 'tty' : 'plain') : config.view;
  return new Demo({
    durationS: config.durationS,
    ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
    reportDir,
    minReplicas: config.minReplicas,
    maxReplicas: config.maxReplicas,
    scalingMode: mode,
    ...(both ? { streamSuffix: `-${mode}` } : {}),
    view,
    logLevel: config.logLevel,
    keepKeys: config.keepKeys,
    runId,
    repoRoot: join(__dirname, '..', '..', '..'),
    baseEnv,
    load: (target) => new GeneratorLoad(target),
  });
}

/** First signal: interrupt the running demo; second: kill every process it started. */
function onSignals(current: () => Demo | undefined): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals === 1) {
      current()?.interrupt(signal === 'SIGINT' ? 'Ctrl-C' : signal);
      return;
    }
    process.stderr.write(`second ${signal}: killing every process the demo started\n`);
    current()?.forceKill();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
}

function printSummary(summary: Summary, files: { html: string; png: string; json: string }): void {
  const c = summary.counts;
  const line = (k: string, v: string | number): string => `  ${k.padEnd(16)} ${v}`;
  process.stdout.write(
    [
      '',
      `demo ${summary.outcome}${summary.reason ? ` (${summary.reason.split('\n')[0]})` : ''} in ${summary.elapsedS.toFixed(0)} s (SCALING_MODE=${summary.config.scalingMode})`,
      line('published', c.published),
      line('processed', c.processed),
      line('dead-lettered', `${c.deadLettered} (${c.poisonPublished} poison events)`),
      line('duplicates', c.duplicates),
      line('unfinished', c.unfinished),
      line('lost', c.lost),
      line('replicas', `min ${summary.replicas.min}, peak during the burst ${summary.replicas.peakDuringBurst}, at the end ${summary.replicas.atEnd ?? '–'} (max ${summary.replicas.max})`),
      ...summary.checks.map((k) => `  ${k.ok ? '✔' : '✘'} ${k.name}: ${k.detail}`),
      `report: ${files.html}  chart: ${files.png}  summary: ${files.json}`,
      summary.reason && summary.outcome === 'failed' ? `\n${summary.reason}` : '',
      '',
    ].join('\n'),
  );
}

async function main(): Promise<number> {
  const config = demoConfig.parse(process.env);
  if (config.maxReplicas <= config.minReplicas) {
    process.stderr.write(`DEMO_MAX_REPLICAS=${config.maxReplicas} must be above DEMO_MIN_REPLICAS=${config.minReplicas}\n`);
    return 2;
  }
  const runId = config.runId ?? randomBytes(4).toString('hex');
  const scaling = config.scaling;
  const both = scaling === 'both';
  const modes: ScalingMode[] = scaling === 'both' ? ['lag', 'rate'] : [scaling];
  let current: Demo | undefined;
  onSignals(() => current);
  const summaries: Summary[] = [];
  for (const mode of modes) {
    current = makeDemo(config, mode, both ? join(config.reportDir, mode) : config.reportDir, runId, both);
    const summary = await current.run();
    const dir = both ? join(config.reportDir, mode) : config.reportDir;
    printSummary(summary, writeReport(dir, summary));
    summaries.push(summary);
    if (current.interrupted) break;
  }
  if (both && summaries.length === modes.length) {
    const files = writeComparison(config.reportDir, summaries);
    for (const f of summaries.map(figuresOf)) {
      process.stdout.write(`SCALING_MODE=${f.mode}: direction changes in the burst ${f.directionChanges}, backlog age p99 ${f.ageP99S.toFixed(1)} s, max backlog ${f.maxBacklog}, replica-seconds ${f.replicaSeconds.toFixed(0)}, drain ${f.drainS === null ? '–' : `${f.drainS.toFixed(0)} s`}\n`);
    }
    process.stdout.write(`side by side: ${files.html}  chart: ${files.png}\n`);
  }
  const codes = summaries.map((s) => s.exitCode);
  return codes.includes(130) ? 130 : Math.max(0, ...codes);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${describeStartupError('demo', err)}\n`);
    process.exit(startupExitCode(err));
  },
);
