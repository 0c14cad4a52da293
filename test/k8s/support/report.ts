/**
 * The scaling run of the e2e suite as a picture: events in and out per second, the backlog, and the
 * Deployment's replicas (spec and Ready) sampled every 500 ms, drawn with the demo's chart renderer
 * into .tmp/k8s-report/scaling.{png,json}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { renderChart } from '../../../scripts/demo/src/chart';
import { svgToPng } from '../../../scripts/demo/src/report';
import type { Sample } from '../../../scripts/demo/src/sample';
import { groupState, readReplicas, REPO_ROOT } from './cluster';

export interface ScalingPoint {
  t: number;
  published: number;
  processed: number;
  outstanding: number;
  /** Consumers of the group (a worker's consumer appears at its first read). */
  consumers: number;
  replicas: number;
  ready: number;
}

export class ScalingSampler {
  readonly points: ScalingPoint[] = [];
  published = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly t0 = Date.now();

  constructor(private readonly o: { redis: Redis; ns: string; deployment: string; stream: string; group: string; ledgerKey: string }) {}

  start(): this {
    const tick = async (): Promise<void> => {
      const { replicas, ready } = readReplicas(this.o.ns, this.o.deployment) ?? { replicas: 0, ready: 0 };
      const [processed, g] = await Promise.all([this.o.redis.hlen(`${this.o.ledgerKey}:done`), groupState(this.o.redis, this.o.stream, this.o.group)]);
      this.points.push({ t: (Date.now() - this.t0) / 1000, published: this.published, processed, outstanding: g.outstanding, consumers: g.consumers, replicas, ready });
      this.timer = setTimeout(() => void tick(), 500);
    };
    void tick();
    return this;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** Writes scaling.json and scaling.png; returns the PNG's path. */
  write(title: string, subtitle: string, maxReplicas: number): string {
    const dir = join(REPO_ROOT, '.tmp', 'k8s-report');
    mkdirSync(dir, { recursive: true });
    const samples: Sample[] = this.points.map((p, i) => {
      const prev = this.points[i - 1];
      const dt = prev ? p.t - prev.t : 0;
      return {
        t: p.t, phase: 'burst', published: p.published, added: p.published, processed: p.processed, deadLetters: 0,
        inRate: prev && dt > 0 ? (p.published - prev.published) / dt : null,
        outRate: prev && dt > 0 ? (p.processed - prev.processed) / dt : null,
        outstanding: p.outstanding, lag: null, pending: null, lagSeconds: null, oldestPendingSeconds: null, consumers: p.consumers,
        desired: p.replicas, current: p.replicas, running: p.ready,
      };
    });
    const end = this.points.length ? this.points[this.points.length - 1]!.t : 1;
    const svg = renderChart(samples, { title, subtitle, phases: [{ name: 'burst and drain', startS: 0, endS: end }], minReplicas: 0, maxReplicas });
    writeFileSync(join(dir, 'scaling.json'), JSON.stringify(this.points, null, 1));
    const png = join(dir, 'scaling.png');
    writeFileSync(png, svgToPng(svg));
    return png;
  }
}
