/**
 * The four service binaries as child processes for the issue 17 connection tests (Sentinel failover,
 * TLS, password rotation): start them with one Redis environment, find their ports from their
 * `started` lines, poll `/readyz`, post events with their own ids and count them in the recording
 * handler's ledger. Every process is stopped by pid with `stopAll`.
 */
import type Redis from 'ioredis';
import { startService, stopProcesses, waitFor, type ServiceProcess } from '../../../test-support/process';
import { RECORDING_HANDLER } from '../../../services/worker/test/support';

/** A started service and its HTTP port. */
export interface Running {
  /** `producer`, `worker-1`, … */
  name: string;
  proc: ServiceProcess;
  port: number;
}

const STARTED: Record<string, string> = { producer: 'producer started', worker: 'worker started', 'lag-exporter': 'lag exporter started', autoscaler: 'autoscaler started' };

/** Starts `service` with `env` (PORT=0) and resolves with its port once it logged `started`. */
export async function start(service: keyof typeof STARTED, name: string, env: Record<string, string>, timeoutMs = 30_000): Promise<Running> {
  const proc = startService(service, { PORT: '0', ...env });
  try {
    const line = await proc.waitForLog((l) => l.msg === STARTED[service], timeoutMs);
    return { name, proc, port: Number(line.port) };
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
}

/** The worker environment of the recording handler (its ledger on `ledgerUrl`, never on the Redis under test). */
export function recordingWorkerEnv(stream: string, recordKey: string, ledgerUrl: string): Record<string, string> {
  return { STREAM: stream, GROUP: 'workers', HANDLER: RECORDING_HANDLER, RECORD_KEY: recordKey, RECORD_REDIS_URL: ledgerUrl, CLAIM_IDLE_MS: '3000', BLOCK_MS: '500' };
}

/** `GET /readyz` status (0 when the service does not answer). */
export async function readyz(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
    await res.text();
    return res.status;
  } catch {
    return 0;
  }
}

/** Waits until every service answers `/readyz` 200. */
export async function allReady(services: Running[], timeoutMs = 60_000): Promise<void> {
  await waitFor(async () => (await Promise.all(services.map((s) => readyz(s.port)))).every((c) => c === 200), timeoutMs, 100, `every /readyz 200 (${services.map((s) => s.name).join(', ')})`);
}

/** Posts a batch of events with their own ids; resolves with the HTTP status (0: no answer) and the reply's reason. */
export async function post(port: number, stream: string, ids: string[]): Promise<{ status: number; body: string }> {
  const events = ids.map((id) => ({ specversion: '1.0', id, source: 'ha-test', type: 'test', data: { id } }));
  try {
    const res = await fetch(`http://127.0.0.1:${port}/v1/streams/${encodeURIComponent(stream)}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
      body: JSON.stringify(events),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: (err as Error).message };
  }
}

/** Ids of `ids` the recording handler has not completed. */
export async function notDone(ledger: Redis, recordKey: string, ids: Iterable<string>): Promise<string[]> {
  const done = await ledger.hgetall(`${recordKey}:done`);
  return [...ids].filter((id) => !done[id]);
}

/** Stops every service ({@link stopProcesses}: SIGTERM, SIGKILL after 40 s) and waits for them to exit. */
export async function stopAll(services: Running[]): Promise<void> {
  await stopProcesses(services.map((s) => s.proc));
}
