/**
 * KEDA's external scaler over gRPC (chart mode `keda-external`; docs/autoscaler.md): `IsActive`,
 * `GetMetricSpec`, `GetMetrics` for the `external` trigger and `StreamIsActive` for `external-push`,
 * giving KEDA the group's outstanding entries (the same figure as `/api/v1/backlog`) or the rate
 * signal, and pushing activation the moment the first entry arrives (a blocking XREAD at the tail).
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { RateEstimator, errorFields, globToRegExp, outstandingOf, parseShardKey, parseStreamInfo, readShardedBacklog, shardKeys, type Logger, type RedisConnection } from '@stream-workers/core';
import { MetadataError, metricName, parseScalerMetadata, type ScalerMetadata } from './scaler-metadata';
import { streamActivity, type ActivityCall } from './scaler-push';

/** The .proto shipped with the package (services/lag-exporter/proto), found from src/ and dist/ alike. */
export const EXTERNAL_SCALER_PROTO = join(__dirname, '..', 'proto', 'externalscaler.proto');

interface ScaledObjectRef {
  name: string;
  namespace: string;
  scalerMetadata: Record<string, string>;
}
interface GetMetricsRequest {
  scaledObjectRef: ScaledObjectRef | null;
  metricName: string;
}

/** Options for {@link ExternalScalerServer}. */
export interface ExternalScalerOptions {
  redis: RedisConnection;
  logger: Logger;
  /** Port to listen on; 0 picks a free one (tests). */
  port: number;
  host?: string;
  /** The exporter's STREAMS and GROUPS: the scaler answers for these only. */
  streams: string[];
  groups?: string[];
  countLimit?: number;
  /** `STREAM_SHARDS`: N > 1 makes a trigger on stream S read S's total over its shards. */
  shards?: number;
  /** Window of the rate metric's arrival rate in s; default 30. */
  rateWindowS?: number;
}

/** The signal for one trigger, computed from one backlog read. */
export interface ScalerReading {
  value: number;
  active: boolean;
  outstanding: number;
}

export function loadExternalScalerService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(EXTERNAL_SCALER_PROTO, { keepCase: true, longs: Number, defaults: true, oneofs: true });
  // loadPackageDefinition returns an untyped tree (GrpcObject); the path is fixed by the .proto above.
  const pkg = grpc.loadPackageDefinition(def).externalscaler as grpc.GrpcObject;
  return (pkg.ExternalScaler as grpc.ServiceClientConstructor).service;
}

export class ExternalScalerServer {
  private server: grpc.Server | undefined;
  private readonly streamFilters: RegExp[];
  private readonly groupFilter: Set<string> | undefined;
  private readonly rates = new Map<string, RateEstimator>();
  private readonly calls = new Set<ActivityCall>();

  constructor(private readonly opts: ExternalScalerOptions) {
    this.streamFilters = opts.streams.map(globToRegExp);
    this.groupFilter = opts.groups && opts.groups.length > 0 ? new Set(opts.groups) : undefined;
  }

  /** Binds and starts serving; resolves with the port. */
  async listen(): Promise<number> {
    const server = new grpc.Server();
    server.addService(loadExternalScalerService(), {
      IsActive: this.unary((ref) => this.read(this.metadata(ref)).then((r) => ({ result: r.active }))),
      GetMetricSpec: this.unary(async (ref) => {
        const m = this.metadata(ref);
        return { metricSpecs: [{ metricName: metricName(m), targetSize: Math.max(1, Math.round(m.targetValue)), targetSizeFloat: m.targetValue }] };
      }),
      GetMetrics: this.unary(async (req: GetMetricsRequest) => {
        const m = this.metadata(req.scaledObjectRef);
        const r = await this.read(m);
        return { metricValues: [{ metricName: req.metricName || metricName(m), metricValue: Math.round(r.value), metricValueFloat: r.value }] };
      }),
      StreamIsActive: (call: grpc.ServerWritableStream<ScaledObjectRef, { result: boolean }>) => {
        let m: ScalerMetadata;
        try {
          m = this.metadata(call.request);
        } catch (err) {
          call.emit('error', this.toStatus(err)); // grpc-js: a status object emitted as 'error' ends the stream with it
          return;
        }
        const activity = streamActivity(call, { redis: this.opts.redis, stream: m.stream, read: () => this.read(m), logger: this.opts.logger });
        this.calls.add(activity);
        void activity.done.finally(() => this.calls.delete(activity));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${this.opts.host ?? '0.0.0.0'}:${this.opts.port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.server = server;
    return port;
  }

  /** Ends the push streams and stops the server (waits for calls in flight, then forces). */
  async close(): Promise<void> {
    await Promise.all([...this.calls].map((c) => c.stop()));
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 5000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /**
   * `entries-added` of the stream, summed over its shards (a sharded stream's name; a shard key itself
   * is read alone); undefined when a key is missing or Redis < 7 does not say.
   */
  private async entriesAdded(stream: string, shards: number): Promise<number | undefined> {
    const keys = shards > 1 && !parseShardKey(stream, shards) ? shardKeys(stream, shards) : [stream];
    const infos = await Promise.all(keys.map((k) => this.opts.redis.xinfo('STREAM', k).catch(() => undefined)));
    let sum = 0;
    for (const info of infos) {
      const added = info === undefined ? undefined : parseStreamInfo(info).entriesAdded;
      if (added === undefined) return undefined;
      sum += added;
    }
    return sum;
  }

  /** The trigger's value: outstanding (as `/api/v1/backlog`), or λ + waiting / drainSeconds for metric rate. */
  async read(m: ScalerMetadata): Promise<ScalerReading> {
    const shards = this.opts.shards ?? 1;
    const [obs, added] = await Promise.all([
      readShardedBacklog(this.opts.redis, m.stream, m.group, shards, undefined, this.opts.countLimit),
      m.metric === 'rate' ? this.entriesAdded(m.stream, shards) : Promise.resolve(undefined),
    ]);
    const outstanding = outstandingOf(obs);
    if (m.metric === 'outstanding') return { value: outstanding, active: outstanding > m.activationValue, outstanding };
    const waiting = obs.status === 'ok' ? obs.backlog.lag : outstanding;
    let arrival = 0;
    if (added !== undefined) {
      const key = `${m.stream}\u0000${m.group}`;
      let est = this.rates.get(key);
      if (!est) this.rates.set(key, (est = new RateEstimator(this.opts.rateWindowS ?? 30)));
      arrival = est.add({ t: Date.now(), added, read: 0, pending: 0, lag: 0, replicas: 0 }).arrivalRate ?? 0;
    }
    const value = arrival + waiting / m.drainSeconds;
    return { value, active: value > m.activationValue || outstanding > m.activationValue, outstanding };
  }

  private metadata(ref: ScaledObjectRef | null | undefined): ScalerMetadata {
    const m = parseScalerMetadata(ref?.scalerMetadata);
    if (!this.streamFilters.some((re) => re.test(m.stream))) {
      throw new MetadataError('stream', `${JSON.stringify(m.stream)} is not exported by this exporter (STREAMS=${this.opts.streams.join(',')})`);
    }
    if (this.groupFilter && !this.groupFilter.has(m.group)) {
      throw new MetadataError('group', `${JSON.stringify(m.group)} is not exported by this exporter (GROUPS=${[...this.groupFilter].join(',')})`);
    }
    return m;
  }

  private toStatus(err: unknown): Partial<grpc.StatusObject> {
    if (err instanceof MetadataError) return { code: grpc.status.INVALID_ARGUMENT, details: err.message };
    this.opts.logger.warn(errorFields(err), 'external scaler: cannot read the backlog');
    return { code: grpc.status.UNAVAILABLE, details: `cannot read the backlog: ${err instanceof Error ? err.message : String(err)}` };
  }

  private unary<Req, Res>(fn: (req: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      Promise.resolve()
        .then(() => fn(call.request))
        .then(
        (res) => callback(null, res),
        (err: unknown) => callback(this.toStatus(err) as grpc.ServiceError),
      );
    };
  }
}
