import { randomBytes } from 'node:crypto';
import { StreamProducer, closeRedis, createRedis } from '@stream-workers/core';

/** How the rate changes over the run (the peak is always `rate`). */
export type LoadShape = 'steady' | 'ramp' | 'burst' | 'waves';
export const LOAD_SHAPES: readonly LoadShape[] = ['steady', 'ramp', 'burst', 'waves'];

/** Options for {@link runLoad}. */
export interface LoadOptions {
  /** Peak events per second (> 0). */
  rate: number;
  /** Length of the run in seconds (> 0); sending stops then, in-flight batches get `drainTimeoutMs`. */
  durationS: number;
  /**
   * steady: `rate` throughout. ramp: linear from 10 % to 100 % of `rate`. burst: `rate` for the
   * first 2 s of every 10 s, 10 % of it otherwise. waves: a sine between 10 % and 100 % of `rate`,
   * period min(60 s, duration / 2). Default steady.
   */
  shape?: LoadShape;
  /** `redis`: the publishing library on a direct connection; `http`: the producer API. */
  via: 'redis' | 'http';
  stream: string;
  /** Producer base URL for `via: 'http'`; default http://127.0.0.1:8080. */
  url?: string;
  /** Redis URL for `via: 'redis'`; default redis://127.0.0.1:6379. */
  redisUrl?: string;
  /** Every Nth event gets type `poisonType` (the worker's SIM_POISON_TYPE fails it); 0 = none. Default 0. */
  poisonEvery?: number;
  /** Type of poison events; default `poison`. */
  poisonType?: string;
  /** Type of the other events; default `load.test`. */
  eventType?: string;
  /** Events per request / script call; default 100. */
  batch?: number;
  /** Stop after this many events; default unbounded (the duration bounds the run). */
  maxEvents?: number;
  /** Most batches in flight at once; default 16. */
  concurrency?: number;
  /** After the duration, how long in-flight batches may still take, in ms; default 10000. */
  drainTimeoutMs?: number;
  /** Called once a second with the progress so far. */
  onProgress?: (p: LoadProgress) => void;
  /** Stops the run early (e.g. SIGINT). */
  signal?: AbortSignal;
}

/** Progress reported each second. */
export interface LoadProgress {
  elapsedS: number;
  sent: number;
  acked: number;
  errors: number;
  /** Events acked per second over the last second. */
  rate: number;
  /** The shape's target rate right now. */
  targetRate: number;
}

/** The final summary: `acked` events are in the stream (confirmed by Redis or a 202). */
export interface LoadSummary {
  sent: number;
  acked: number;
  errors: number;
  durationS: number;
  /** acked / durationS. */
  rate: number;
  /** First error messages (at most 5). */
  errorSamples: string[];
}

/** Target rate of `shape` at `t` seconds into a run of `d` seconds with peak `rate`. */
export function shapeRate(shape: LoadShape, rate: number, t: number, d: number): number {
  switch (shape) {
    case 'steady':
      return rate;
    case 'ramp':
      return rate * (0.1 + 0.9 * Math.min(1, Math.max(0, t / d)));
    case 'burst':
      return t % 10 < 2 ? rate : rate * 0.1;
    case 'waves': {
      const period = Math.max(2, Math.min(60, d / 2));
      return rate * (0.55 - 0.45 * Math.cos((2 * Math.PI * t) / period));
    }
  }
}

/** Sends one batch; resolves on success, rejects with a message on failure. */
export type Sender = (events: object[]) => Promise<void>;

/** {@link LoadOptions} checked, with their defaults applied. */
export interface LoadSettings {
  rate: number;
  durationS: number;
  shape: LoadShape;
  batch: number;
  concurrency: number;
  maxEvents: number;
  poisonEvery: number;
  poisonType: string;
  eventType: string;
}

/** Checks `opts` (RangeError naming the option) and applies the defaults. */
export function loadSettings(opts: LoadOptions): LoadSettings {
  if (!(opts.rate > 0)) throw new RangeError(`rate must be > 0, got ${opts.rate}`);
  if (!(opts.durationS > 0)) throw new RangeError(`duration must be > 0 s, got ${opts.durationS}`);
  const shape = opts.shape ?? 'steady';
  if (!LOAD_SHAPES.includes(shape)) throw new RangeError(`shape must be one of ${LOAD_SHAPES.join(', ')}, got ${shape}`);
  return {
    rate: opts.rate,
    durationS: opts.durationS,
    shape,
    batch: Math.max(1, Math.floor(opts.batch ?? 100)),
    concurrency: Math.max(1, Math.floor(opts.concurrency ?? 16)),
    maxEvents: opts.maxEvents ?? Number.POSITIVE_INFINITY,
    poisonEvery: opts.poisonEvery ?? 0,
    poisonType: opts.poisonType ?? 'poison',
    eventType: opts.eventType ?? 'load.test',
  };
}

/** The batches of a run: builds them, sends them, and counts what was sent, acked and failed. */
export class Batches {
  sent = 0;
  acked = 0;
  errors = 0;
  readonly errorSamples: string[] = [];
  readonly pending = new Set<Promise<void>>();
  private readonly runId = randomBytes(4).toString('hex');

  constructor(
    private readonly s: LoadSettings,
    private readonly send: Sender,
  ) {}

  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends the next `n` events as one batch (every `poisonEvery`th one a poison event). */
  fire(n: number): void {
    const events: object[] = [];
    for (let i = 0; i < n; i++) {
      const seq = this.sent + i + 1;
      const poison = this.s.poisonEvery > 0 && seq % this.s.poisonEvery === 0;
      events.push({ source: `load-generator/${this.runId}`, type: poison ? this.s.poisonType : this.s.eventType, data: { seq, runId: this.runId, at: Date.now() } });
    }
    this.sent += n;
    const p: Promise<void> = this.send(events)
      .then(
        () => {
          this.acked += n;
        },
        (err: unknown) => this.fail(n, err instanceof Error ? err.message : String(err)),
      )
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Waits for the batches in flight, at most `timeoutMs`; those still unconfirmed are counted as errors (they may still land). */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0 && Date.now() < deadline) await Promise.race([...this.pending, sleep(100)]);
    if (this.pending.size > 0) {
      const stuck = this.sent - this.acked - this.errors;
      this.fail(stuck, `${stuck} events unconfirmed after the drain timeout`);
    }
  }

  private fail(n: number, message: string): void {
    this.errors += n;
    if (this.errorSamples.length < 5) this.errorSamples.push(message);
  }
}

/** The time {@link pace} runs on: seconds since the start, and a wait. */
export interface PaceClock {
  elapsedS(): number;
  sleep(ms: number): Promise<void>;
}

/**
 * Fires batches as the shaped rate makes them due, within the concurrency cap, until the duration,
 * `maxEvents` or the abort signal. Exported for the pacing test, which runs it on a virtual clock.
 */
export async function pace(b: Batches, s: LoadSettings, opts: Pick<LoadOptions, 'signal' | 'onProgress'>, clock: PaceClock): Promise<void> {
  const elapsed = () => clock.elapsedS();
  const sleep = (ms: number) => clock.sleep(ms);
  let due = 0; // events due so far (integral of the shaped rate)
  let lastT = 0;
  let lastAcked = 0;
  let nextProgress = 1;
  while (!opts.signal?.aborted) {
    const t = elapsed();
    if (t >= s.durationS || b.sent >= s.maxEvents) break;
    due += shapeRate(s.shape, s.rate, t, s.durationS) * (t - lastT);
    lastT = t;
    while (b.inFlight < s.concurrency && b.sent < s.maxEvents && due - b.sent >= Math.min(s.batch, Math.max(1, s.maxEvents - b.sent))) {
      b.fire(Math.min(s.batch, s.maxEvents - b.sent));
    }
    if (t >= nextProgress) {
      opts.onProgress?.({ elapsedS: Math.round(t), sent: b.sent, acked: b.acked, errors: b.errors, rate: b.acked - lastAcked, targetRate: Math.round(shapeRate(s.shape, s.rate, t, s.durationS)) });
      lastAcked = b.acked;
      nextProgress += 1;
    }
    // Wait for a batch to finish when at the concurrency cap, else for the next batch to fall due.
    if (b.inFlight >= s.concurrency) await Promise.race([...b.pending, sleep(5)]);
    else await sleep(Math.max(1, Math.min(20, ((s.batch - (due - b.sent)) / Math.max(1, s.rate)) * 1000)));
  }
}

/**
 * Generates events at a shaped rate for a bounded time (and count), in batches, with a bounded
 * number in flight. Never throws for send errors: they are counted.
 */
export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  const settings = loadSettings(opts);
  const { send, close } = makeSender(opts);
  const batches = new Batches(settings, send);
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  try {
    await pace(batches, settings, opts, { elapsedS: elapsed, sleep });
    await batches.drain(opts.drainTimeoutMs ?? 10_000);
  } finally {
    await close();
  }
  const durationS = elapsed();
  const { sent, acked, errors, errorSamples } = batches;
  return { sent, acked, errors, durationS: Math.round(durationS * 1000) / 1000, rate: Math.round(acked / durationS), errorSamples };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function makeSender(opts: LoadOptions): { send: Sender; close: () => Promise<void> } {
  if (opts.via === 'redis') {
    const redis = createRedis({ url: opts.redisUrl ?? 'redis://127.0.0.1:6379', role: 'command', name: 'load-generator' });
    const producer = new StreamProducer({ redis, maxLen: 0, batchMax: Math.max(1000, opts.batch ?? 100), timeoutMs: 10_000 });
    return {
      send: async (events) => {
        await producer.publish(opts.stream, events);
      },
      close: () => closeRedis(redis),
    };
  }
  const base = (opts.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const target = `${base}/v1/streams/${encodeURIComponent(opts.stream)}/events`;
  return {
    send: async (events) => {
      const res = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/cloudevents-batch+json' },
        body: JSON.stringify(events),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.status !== 202) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    },
    close: async () => undefined,
  };
}
