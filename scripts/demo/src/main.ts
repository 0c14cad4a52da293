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

async function main(): Promise<number> {
  const config = demoConfig.parse(process.env);
  if (config.maxReplicas <= config.minReplicas) {
    process.stderr.write(`DEMO_MAX_REPLICAS=${config.maxReplicas} must be above DEMO_MIN_REPLICAS=${config.minReplicas}\n`);
    return 2;
  }
  const runId = config.runId ?? randomBytes(4).toString('hex');
  const baseEnv: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) if (process.env[k]) baseEnv[k] = process.env[k]!;
  const view = config.view === 'auto' ? (process.stdout.isTTY ? 'tty' : 'plain') : config.view;
  const demo = new Demo({
    durationS: config.durationS,
    ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
    reportDir: config.reportDir,
    minReplicas: config.minReplicas,
    maxReplicas: config.maxReplicas,
    view,
    logLevel: config.logLevel,
    keepKeys: config.keepKeys,
    runId,
    repoRoot: join(__dirname, '..', '..', '..'),
    baseEnv,
    load: (target) => new GeneratorLoad(target),
  });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals === 1) {
      demo.interrupt(signal === 'SIGINT' ? 'Ctrl-C' : signal);
      return;
    }
    process.stderr.write(`second ${signal}: killing every process the demo started\n`);
    demo.forceKill();
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  const summary = await demo.run();
  const files = writeReport(config.reportDir, summary);
  const c = summary.counts;
  const line = (k: string, v: string | number): string => `  ${k.padEnd(16)} ${v}`;
  process.stdout.write(
    [
      '',
      `demo ${summary.outcome}${summary.reason ? ` (${summary.reason.split('\n')[0]})` : ''} in ${summary.elapsedS.toFixed(0)} s`,
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
  return summary.exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${describeStartupError('demo', err)}\n`);
    process.exit(startupExitCode(err));
  },
);
