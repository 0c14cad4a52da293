import { createServer, type Server } from 'node:net';
import { OpsServer, commonSpecs, defineConfig, int, runService, type RedisConnection, type ServiceDefinition, type ServiceProcess } from '../src';
import { PeriodicTask } from '../src/periodic-task';
import { SHARED_REDIS_URL } from '../../../test-support/redis';
import { waitFor } from '../../../test-support/process';

const config = defineConfig('test', { ...commonSpecs(0), deadlineMs: int('DEADLINE_MS', { description: 'shutdown deadline', default: 5000, min: 1 }) });
type Config = ReturnType<typeof config.parse>;

/** An in-process stand-in for `process`: records exits, stderr and the signal handlers. */
function fakeProcess(env: Record<string, string>) {
  const exits: number[] = [];
  const stderr: string[] = [];
  const signals = new Map<string, (s: NodeJS.Signals) => void>();
  const proc: ServiceProcess = {
    env: { LOG_LEVEL: 'silent', REDIS_URL: SHARED_REDIS_URL, ...env },
    exit: (code) => void exits.push(code),
    onSignal: (signal, handler) => void signals.set(signal, handler),
    stderr: (line) => void stderr.push(line),
  };
  return { proc, exits, stderr, signals };
}

function definition(steps: string[], extra: Partial<ServiceDefinition<Config>> = {}): ServiceDefinition<Config> & { redis?: RedisConnection } {
  const def: ServiceDefinition<Config> & { redis?: RedisConnection } = {
    name: 'test-service',
    config,
    shutdownDeadlineMs: (c) => c.deadlineMs,
    build(ctx) {
      def.redis = ctx.redis();
      const ops = new OpsServer({ port: ctx.config.port, registry: ctx.registry, logger: ctx.logger, readiness: () => ({ ready: true }) });
      ctx.shutdown.add('first', () => void steps.push(`first (redis ${def.redis!.status === "end" ? "closed" : "open"})`)).add('ops', async () => {
        await ops.close();
        steps.push('ops');
      });
      return { listen: () => ops.listen(), start: () => void steps.push('started') };
    },
    ...extra,
  };
  return def;
}

describe('runService', () => {
  test('starts, then on SIGTERM closes the steps in the order added, Redis last, and exits 0', async () => {
    const steps: string[] = [];
    const def = definition(steps);
    const p = fakeProcess({ PORT: '0' });
    await runService(def, p.proc);
    expect(steps).toEqual(['started']);
    expect([...p.signals.keys()].sort()).toEqual(['SIGINT', 'SIGTERM']);
    expect(await def.redis!.ping()).toBe('PONG');
    p.signals.get('SIGTERM')!('SIGTERM');
    await waitFor(() => p.exits.length > 0, 10_000, 10, 'the exit after the shutdown');
    expect(p.exits).toEqual([0]);
    expect(steps).toEqual(['started', 'first (redis open)', 'ops']);
    expect(def.redis!.status).toBe('end');
  });

  test('a malformed variable: the message names it on stderr, exit code 2, nothing built', async () => {
    const steps: string[] = [];
    const p = fakeProcess({ PORT: 'eighty' });
    await runService(definition(steps), p.proc);
    expect(p.exits).toEqual([2]);
    expect(p.stderr.join('')).toContain('test-service: invalid configuration:\nPORT="eighty" is invalid');
    expect(steps).toEqual([]);
    expect(p.signals.size).toBe(0);
  });

  test('listen fails (port taken): what was built is closed, Redis too, exit code 1', async () => {
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '0.0.0.0', r));
    try {
      const steps: string[] = [];
      const def = definition(steps);
      const p = fakeProcess({ PORT: String((taken.address() as { port: number }).port) });
      await runService(def, p.proc);
      expect(p.exits).toEqual([1]);
      expect(p.stderr.join('')).toMatch(/^test-service: failed to start: .*EADDRINUSE/);
      expect(steps).toEqual(['first (redis open)', 'ops']);
      await waitFor(() => def.redis!.status === 'end', 10_000, 10, 'the connection closed (it was still connecting)');
    } finally {
      taken.close();
    }
  });
});

describe('PeriodicTask', () => {
  test('runs one at a time with the delay chosen from each result; close() waits for the run in progress and is idempotent', async () => {
    const delays: number[] = [];
    let active = 0;
    let maxActive = 0;
    let release: (() => void) | undefined;
    let runs = 0;
    const task = new PeriodicTask<number>({
      run: async () => {
        runs += 1;
        active += 1;
        maxActive = Math.max(maxActive, active);
        if (runs === 3) await new Promise<void>((r) => (release = r)); // the third run is held
        active -= 1;
        if (runs === 2) throw new Error('second run fails');
        return runs;
      },
      nextDelayMs: (r) => {
        const d = r.ok ? r.value : 100;
        delays.push(d);
        return r.ok ? 1 : 2;
      },
    });
    task.start();
    task.start(); // a second start changes nothing
    await waitFor(() => release !== undefined, 10_000, 5, 'the third run');
    let closed = false;
    const closing = task.close().then(() => (closed = true));
    expect(task.close()).toBe(task.close());
    await Promise.resolve();
    expect(closed).toBe(false); // waits for the held run
    release!();
    await closing;
    expect(delays).toEqual([1, 100, 3]);
    expect(maxActive).toBe(1);
    expect(runs).toBe(3); // nothing runs after close()
    task.start(); // closed: no-op
    expect(runs).toBe(3);
  });

  test("firstDelayMs 'now' runs inside start(); a task closed before its first timer never runs", async () => {
    let runs = 0;
    const now = new PeriodicTask({ run: async () => void (runs += 1), nextDelayMs: () => 60_000, firstDelayMs: 'now' });
    now.start();
    await now.close();
    expect(runs).toBe(1);
    const later = new PeriodicTask({ run: async () => void (runs += 1), nextDelayMs: () => 60_000, firstDelayMs: 60_000 });
    later.start();
    await later.close();
    expect(runs).toBe(1);
  });
});
