/**
 * Producer during a Redis outage: a real producer process (`node services/producer/dist/main.js`) on a
 * private redis-server with AOF `appendfsync always`; four client loops POST one event each, with
 * their own ids, without pause. Redis is SIGKILLed, and restarted on the same port and dir once the
 * producer noticed the outage and was probed through it (20 requests, 3 /readyz probes).
 * During the outage every answer is 503 with Retry-After and `/readyz` answers 503; after the restart
 * the same producer process (same pid, started once) answers 202 and `/readyz` 200 again; every event
 * answered 2xx is in the stream afterwards.
 */
import Redis from 'ioredis';
import { startService, waitFor, type ServiceProcess } from '../../test-support/process';
import { idsInStream, pause, privateRedisScenario, tally, warnLines } from './support';

jest.setTimeout(180_000);

const STREAM = 'outage';
const CLIENTS = 4;
/** Requests sent and answered inside the outage before Redis comes back. */
const OUTAGE_REQUESTS = 20;

type Phase = 'before' | 'outage' | 'restarting' | 'after';
interface Answer {
  id: string;
  /** HTTP status, 0 when the request got no answer at all. */
  status: number;
  retryAfter: string | null;
  sentIn: Phase;
  answeredIn: Phase;
}

let producer: ServiceProcess | undefined;
/** cleanups: stop what the test started (the client loops) also when it fails half-way. */
const scenario = privateRedisScenario({
  args: ['--appendonly', 'yes', '--appendfsync', 'always'],
  client: false,
  teardown: async () => {
    if (producer) {
      producer.kill('SIGKILL');
      await producer.exited;
    }
  },
});

test('Redis SIGKILLed under a real producer process: only 503 + Retry-After and /readyz 503 during the outage, 202 and /readyz 200 again from the same process after the restart, every 2xx event in the stream', async () => {
  const { server, cleanups } = scenario;
  producer = startService('producer', { REDIS_URL: server.url, PORT: '0', STREAMS: STREAM, PUBLISH_TIMEOUT_MS: '1000', LOG_LEVEL: 'info' });
  const svc = producer;
  const port = Number((await svc.waitForLog((l) => l.msg === 'producer started')).port);
  const pid = svc.proc.pid;
  const base = `http://127.0.0.1:${port}`;

  let phase: Phase = 'before';
  let stop = false;
  const answers: Answer[] = [];
  // noticed: the producer had logged the lost connection when the probe was sent. Readiness follows
  // the connection's state, so a probe racing the kill (sent before the producer saw the socket
  // close) may still be answered 200; from the log line on, it must be 503.
  const readyz: Array<{ status: number; sentIn: Phase; answeredIn: Phase; noticed: boolean }> = [];
  let logsAtKill = Number.POSITIVE_INFINITY;
  const lossLogged = (): boolean => svc.logs.slice(logsAtKill).some((l) => l.msg === 'redis connection lost; reconnecting');
  let seq = 0;

  const post = async (id: string): Promise<Answer> => {
    const sentIn = phase;
    let status: number;
    let retryAfter: string | null = null;
    try {
      const res = await fetch(`${base}/v1/streams/${STREAM}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents+json' },
        body: JSON.stringify({ specversion: '1.0', id, source: 'reliability', type: 'test', data: { id } }),
        signal: AbortSignal.timeout(30_000),
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    const a = { id, status, retryAfter, sentIn, answeredIn: phase };
    answers.push(a);
    return a;
  };
  // Bounded: each loop stops when told, or after 100,000 requests of its own.
  const client = async (c: number): Promise<void> => {
    for (let i = 0; i < 100_000 && !stop; i++) {
      const a = await post(`o-${c}-${seq++}`);
      if (a.status !== 202) await pause(50); // the client's pace: a polite client would wait Retry-After; 50 ms keeps probing the outage
    }
  };
  const probeReady = async (): Promise<void> => {
    for (let i = 0; i < 3000 && !stop; i++) {
      const sentIn = phase;
      const noticed = lossLogged();
      let status: number;
      try {
        const res = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(10_000) });
        status = res.status;
        await res.arrayBuffer();
      } catch {
        status = 0;
      }
      readyz.push({ status, sentIn, answeredIn: phase, noticed });
      await pause(100); // the probe's pace
    }
  };
  const loops = [...Array.from({ length: CLIENTS }, (_, c) => client(c)), probeReady()];
  cleanups.push(async () => {
    stop = true;
    await Promise.all(loops);
  });
  const ok = (a: Answer): boolean => a.status >= 200 && a.status < 300;

  // Before: the producer appends (at least 200 answers 202).
  await waitFor(() => answers.filter(ok).length >= 200, 60_000, 50, '200 events answered 202 before the outage');
  logsAtKill = svc.logs.length;
  await server.stopProcess('SIGKILL');
  phase = 'outage';
  const answersAtKill = answers.length;
  const killedAt = Date.now();
  // The outage lasts until the producer noticed it and was probed through it: 20 requests and 3
  // /readyz probes sent and answered inside it after the loss was logged.
  await waitFor(
    () =>
      answers.filter((a) => a.sentIn === 'outage' && a.answeredIn === 'outage').length >= OUTAGE_REQUESTS &&
      readyz.filter((r) => r.sentIn === 'outage' && r.answeredIn === 'outage' && r.noticed).length >= 3,
    60_000,
    20,
    'the outage noticed and probed',
  );
  const outageMs = Date.now() - killedAt;
  phase = 'restarting';
  const answersInOutage = answers.length - answersAtKill;
  await server.startProcess();
  phase = 'after';
  const restartedAt = Date.now();
  // After: /readyz 200 and new 202s, from the same process.
  const statusOf = (url: string): Promise<number> => fetch(url).then(async (r) => (await r.arrayBuffer(), r.status), () => 0);
  await waitFor(async () => (await statusOf(`${base}/readyz`)) === 200, 60_000, 50, '/readyz 200 after the restart');
  const readyAfterMs = Date.now() - restartedAt;
  await waitFor(() => answers.filter((a) => a.sentIn === 'after' && ok(a)).length >= 200, 60_000, 50, '200 events answered 202 after the restart');
  stop = true;
  await Promise.all(loops);

  const redis = new Redis(server.url);
  try {
    const inStream = await idsInStream(redis, STREAM);
    const acked = answers.filter(ok);
    const missingFromStream = acked.filter((a) => !inStream.has(a.id)).map((a) => a.id);
    // Answered 503 but appended anyway (a script that ran while its reply was lost with the kill): allowed, the API says "resend with the same id".
    const unavailableButInStream = answers.filter((a) => a.status === 503 && inStream.has(a.id)).length;
    const strictlyInOutage = answers.filter((a) => a.sentIn === 'outage' && a.answeredIn === 'outage');
    const readyInOutage = readyz.filter((r) => r.sentIn === 'outage' && r.answeredIn === 'outage' && r.noticed);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const rejected = metrics.split('\n').filter((l) => l.startsWith('stream_workers_publish_rejected_total{'));
    const warns = warnLines(svc, logsAtKill).map((l) => String(l.msg));
    const alive = svc.proc.exitCode === null && svc.proc.signalCode === null;
    const startedLines = svc.logs.filter((l) => l.msg === 'producer started').length;
    const figures = {
      scenario: 'producer-outage',
      outageMs,
      requests: answers.length,
      byStatus: tally(answers, (a) => a.status),
      ok2xx: answers.filter(ok).length,
      unavailable503: answers.filter((a) => a.status === 503).length,
      other: answers.filter((a) => a.status !== 503 && !ok(a)).length,
      before: tally(answers.filter((a) => a.sentIn === 'before'), (a) => a.status),
      outage: tally(strictlyInOutage, (a) => a.status),
      after: tally(answers.filter((a) => a.sentIn === 'after'), (a) => a.status),
      answersInOutage,
      readyzInOutage: tally(readyInOutage, (r) => r.status),
      readyzBefore: tally(readyz.filter((r) => r.sentIn === 'before' && r.answeredIn === 'before'), (r) => r.status),
      readyAfterMs,
      acked: acked.length,
      inStream: inStream.size,
      missingFromStream: missingFromStream.length,
      unavailableButInStream,
      rejectedMetric: rejected.map((l) => l.replace('stream_workers_publish_rejected_total', '')),
      warnLines: warns,
      samePid: svc.proc.pid === pid,
      alive,
    };
    console.log(JSON.stringify(figures));

    // The outage was real and long enough to be probed.
    expect(strictlyInOutage.length).toBeGreaterThan(0);
    expect(readyInOutage.length).toBeGreaterThan(0);
    // During the outage: 503 with Retry-After only (no other 5xx, no 2xx, no dropped connection); /readyz 503.
    expect(tally(strictlyInOutage, (a) => a.status)).toEqual({ '503': strictlyInOutage.length });
    expect(strictlyInOutage.filter((a) => a.retryAfter === null)).toEqual([]);
    expect(tally(readyInOutage, (r) => r.status)).toEqual({ '503': readyInOutage.length });
    // At any time: only 202 or 503 (with Retry-After).
    expect(answers.filter((a) => a.status !== 202 && a.status !== 503)).toEqual([]);
    expect(answers.filter((a) => a.status === 503 && a.retryAfter === null)).toEqual([]);
    // After the restart: 202 again and /readyz 200, from the same process that never restarted.
    expect(answers.filter((a) => a.sentIn === 'after' && a.status === 202).length).toBeGreaterThanOrEqual(200);
    expect(alive).toBe(true);
    expect(svc.proc.pid).toBe(pid);
    expect(startedLines).toBe(1);
    // Every event answered 2xx is in the stream.
    expect(missingFromStream).toEqual([]);
    // The outage is logged once, not once per request.
    expect(warns.length).toBeLessThanOrEqual(5);
  } finally {
    redis.disconnect();
  }
});
