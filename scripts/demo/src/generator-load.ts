import { runLoad, type LoadOptions, type LoadShape, type LoadSummary } from '@stream-workers/producer';
import type { LoadCounts, LoadDriver } from './load-driver';
import type { Phase } from './scenario';

/** Options for {@link GeneratorLoad}. */
export interface GeneratorLoadOptions {
  /** Base URL of the producer, e.g. `http://127.0.0.1:8080`. */
  producerUrl: string;
  stream: string;
  /** Type of the poison events. */
  poisonType: string;
  /** Type of the ordinary events; default `demo.order.created`. */
  eventType?: string;
  /** How long in-flight batches may still take when a phase ends or the run is interrupted, in ms; default 3000. */
  drainTimeoutMs?: number;
  /** The load generator (tests pass a double); default the producer package's `runLoad`. */
  run?: (opts: LoadOptions) => Promise<LoadSummary>;
}

/** The load generator's shape for a phase: `steady` when the rate is constant, else `ramp` (10 % → 100 % of the peak). */
export function shapeOf(p: Phase): { shape: LoadShape; rate: number } {
  return p.fromRate === p.toRate ? { shape: 'steady', rate: p.toRate } : { shape: 'ramp', rate: Math.max(p.fromRate, p.toRate) };
}

/** Events per request: about 20 requests per second, so a quiet phase sends every event at once and a burst does not flood the API. */
export function batchOf(rate: number): number {
  return Math.max(1, Math.round(rate / 20));
}

/**
 * Drives the project's load generator (`runLoad` of the producer package, `--via http`) through the
 * scenario: one run per phase, plus a short run of poison events (every event poison, bounded by
 * `maxEvents`) started in the middle of a phase that has some. Published = what the producer
 * acknowledged (202), as the generator counts it.
 */
export class GeneratorLoad implements LoadDriver {
  private done: LoadCounts = { published: 0, failed: 0, poison: 0 };
  /** Acked so far by the runs in progress (from their once-a-second progress). */
  private readonly live = new Map<number, number>();
  private seq = 0;
  private err: string | undefined;

  constructor(private readonly opts: GeneratorLoadOptions) {}

  counts(): LoadCounts {
    let live = 0;
    for (const v of this.live.values()) live += v;
    return { ...this.done, published: this.done.published + live };
  }

  lastError(): string | undefined {
    return this.err;
  }

  async run(phases: readonly Phase[], signal: AbortSignal, onPhase: (p: Phase) => void): Promise<void> {
    for (const p of phases) {
      if (signal.aborted) break;
      onPhase(p);
      const { shape, rate } = shapeOf(p);
      const main = this.one({ shape, rate, durationS: p.durationS, batch: batchOf(rate), eventType: this.opts.eventType ?? 'demo.order.created' }, signal, false);
      let poison: Promise<void> = Promise.resolve();
      if (p.poison > 0) {
        poison = new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            signal.removeEventListener('abort', onAbort);
            resolve(this.one({ shape: 'steady', rate: 10, durationS: Math.max(1, p.durationS / 2), batch: 1, maxEvents: p.poison, poisonEvery: 1, poisonType: this.opts.poisonType }, signal, true));
          }, (p.durationS * 1000) / 2);
          const onAbort = (): void => {
            clearTimeout(t);
            resolve();
          };
          signal.addEventListener('abort', onAbort, { once: true });
        });
      }
      await Promise.all([main, poison]);
    }
  }

  private async one(o: Pick<LoadOptions, 'shape' | 'rate' | 'durationS' | 'batch' | 'eventType' | 'maxEvents' | 'poisonEvery' | 'poisonType'>, signal: AbortSignal, poison: boolean): Promise<void> {
    if (signal.aborted) return;
    const id = ++this.seq;
    this.live.set(id, 0);
    try {
      const s = await (this.opts.run ?? runLoad)({
        ...o,
        via: 'http',
        url: this.opts.producerUrl,
        stream: this.opts.stream,
        concurrency: 4,
        drainTimeoutMs: this.opts.drainTimeoutMs ?? 3000,
        signal,
        onProgress: (pr) => this.live.set(id, pr.acked),
      });
      this.done.published += s.acked;
      this.done.failed += s.errors;
      if (poison) this.done.poison += s.acked;
      if (s.errorSamples.length > 0) this.err = s.errorSamples[s.errorSamples.length - 1];
    } catch (err) {
      this.err = err instanceof Error ? err.message : String(err);
    } finally {
      this.live.delete(id);
    }
  }
}
