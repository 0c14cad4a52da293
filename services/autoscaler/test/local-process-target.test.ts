/**
 * Process management of the local target with a STUB worker script (test/support/stub-worker.js);
 * the real worker runs in local-target.test.ts.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalProcessTarget } from '../src/targets/local-process-target';
import { captureLogger } from './support/helpers';
import { waitFor } from '../../../test-support/process';

const STUB = join(__dirname, 'support', 'stub-worker.js');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('LocalProcessTarget (stub worker processes)', () => {
  test('scale up starts processes with unique CONSUMER and PORT=0; scale down SIGTERMs the newest and waits for them', async () => {
    const { logger, lines } = captureLogger();
    const target = new LocalProcessTarget({ script: STUB, env: { PATH: process.env.PATH, STUB_STOP_MS: '100' }, logger, namePrefix: 'lt', output: 'ignore' });
    try {
      expect(await target.read()).toEqual({ replicas: 0, paused: false });
      await target.scale(3);
      expect((await target.read()).replicas).toBe(3);
      expect(target.runningConsumers.sort()).toEqual(['lt-1', 'lt-2', 'lt-3']);
      const pids = lines.filter((l) => l.msg === 'started worker process').map((l) => Number(l.pid));
      expect(pids).toHaveLength(3);

      await target.scale(1); // resolves only after the two stopped processes exited
      expect(target.runningConsumers).toEqual(['lt-1']);
      expect(pids.map(alive)).toEqual([true, false, false]);
      expect(target.liveness('lt-1')).toBe('alive');
      expect(target.liveness('lt-3')).toBe('gone');
      expect(target.liveness('someone-else')).toBe('unknown');
      expect(lines.filter((l) => l.msg === 'worker process stopped').map((l) => l.consumer).sort()).toEqual(['lt-2', 'lt-3']);
    } finally {
      await target.close();
    }
    expect(target.runningConsumers).toEqual([]);
  });

  test('a worker that dies is replaced at the next read (like a ReplicaSet)', async () => {
    const { logger, lines } = captureLogger();
    const target = new LocalProcessTarget({ script: STUB, env: { PATH: process.env.PATH }, logger, namePrefix: 'rs', output: 'ignore' });
    try {
      await target.scale(2);
      const first = lines.find((l) => l.msg === 'started worker process' && l.consumer === 'rs-1')!;
      process.kill(Number(first.pid), 'SIGKILL');
      await waitFor(() => lines.some((l) => l.msg === 'worker process exited unexpectedly; it will be replaced'), 10_000, 20, 'exit noticed');
      await waitFor(async () => { await target.read(); return target.runningConsumers.length === 2; }, 10_000, 50, 'replacement');
      expect(target.runningConsumers.sort()).toEqual(['rs-2', 'rs-3']);
      expect(target.liveness('rs-1')).toBe('gone');
    } finally {
      await target.close();
    }
  });

  test('a worker that ignores SIGTERM is killed after stopTimeoutMs; close() stops everything', async () => {
    const { logger, lines } = captureLogger();
    const dir = mkdtempSync(join(tmpdir(), 'sw-stub-'));
    const target = new LocalProcessTarget({ script: STUB, env: { PATH: process.env.PATH, STUB_IGNORE_SIGTERM: '1', STUB_READY_DIR: dir }, logger, namePrefix: 'st', output: 'ignore', stopTimeoutMs: 300 });
    await target.scale(2);
    await waitFor(() => readdirSync(dir).length === 2, 20_000, 20, 'stubs ready');
    rmSync(dir, { recursive: true, force: true });
    const pids = lines.filter((l) => l.msg === 'started worker process').map((l) => Number(l.pid));
    await target.close();
    await target.close(); // idempotent
    expect(pids.map(alive)).toEqual([false, false]);
    expect(lines.filter((l) => l.msg === 'worker process did not exit after SIGTERM: killing it')).toHaveLength(2);
    await expect(target.scale(1)).rejects.toThrow(/closed/);
  });
});
