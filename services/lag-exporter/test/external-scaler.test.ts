/**
 * The KEDA external scaler over real gRPC, called with @grpc/grpc-js as KEDA calls it (the same .proto,
 * a ScaledObjectRef carrying the trigger's metadata), next to the exporter's HTTP endpoint on the
 * shared Redis (unique keys). The push latency is printed as a figure, not asserted.
 */
import Redis from 'ioredis';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { closeRedis, createRedis, createRegistry } from '@stream-workers/core';
import { LagExporter } from '../src/app';
import { EXTERNAL_SCALER_PROTO, ExternalScalerServer } from '../src/external-scaler';
import { SHARED_REDIS_URL, deleteKeys, uniquePrefix } from '../../../test-support/redis';
import { captureLogger } from './support/metrics';

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;
interface ScalerClient extends grpc.Client {
  IsActive: Unary;
  GetMetricSpec: Unary;
  GetMetrics: Unary;
  StreamIsActive(req: unknown): grpc.ClientReadableStream<{ result: boolean }>;
}

function client(port: number): ScalerClient {
  // KEDA's own side: the .proto loaded by proto-loader, a generic client over an insecure channel.
  const def = protoLoader.loadSync(EXTERNAL_SCALER_PROTO, { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def).externalscaler as grpc.GrpcObject;
  const Ctor = pkg.ExternalScaler as grpc.ServiceClientConstructor;
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as ScalerClient;
}

function call<T>(fn: Unary, c: ScalerClient, req: unknown): Promise<T> {
  return new Promise((resolve, reject) => fn.call(c, req, (err, res) => (err ? reject(err) : resolve(res as T))));
}

describe('KEDA external scaler over gRPC (shared Redis, unique keys)', () => {
  const prefix = uniquePrefix('extscaler');
  let admin: Redis;
  let redis: Redis;
  let exporter: LagExporter;
  let scaler: ExternalScalerServer;
  let httpPort: number;
  let c: ScalerClient;

  beforeAll(async () => {
    admin = new Redis(SHARED_REDIS_URL);
    const { logger } = captureLogger();
    redis = createRedis({ url: SHARED_REDIS_URL, role: 'command', logger });
    exporter = new LagExporter({ redis, registry: createRegistry(), logger, port: 0, host: '127.0.0.1', streams: [`${prefix}:*`], discoveryIntervalMs: 0 });
    httpPort = await exporter.listen();
    scaler = new ExternalScalerServer({ redis, logger, port: 0, host: '127.0.0.1', streams: [`${prefix}:*`] });
    c = client(await scaler.listen());
  });
  afterAll(async () => {
    c.close();
    await scaler.close();
    await exporter.close();
    await closeRedis(redis);
    await deleteKeys(admin, prefix);
    admin.disconnect();
  });

  const ref = (meta: Record<string, string>) => ({ name: 'workers', namespace: 'default', scalerMetadata: meta });

  test('GetMetricSpec, GetMetrics and IsActive give what /api/v1/backlog gives', async () => {
    const stream = `${prefix}:values`;
    for (let i = 0; i < 7; i++) await admin.xadd(stream, '*', 'i', String(i));
    await admin.xgroup('CREATE', stream, 'workers', '0');
    await admin.xreadgroup('GROUP', 'workers', 'w1', 'COUNT', 3, 'STREAMS', stream, '>'); // 3 pending, 4 undelivered
    const meta = { stream, group: 'workers', targetValue: '50' };

    const spec = await call<{ metricSpecs: Array<{ metricName: string; targetSize: number; targetSizeFloat: number }> }>(c.GetMetricSpec, c, ref(meta));
    expect(spec.metricSpecs).toHaveLength(1);
    expect(spec.metricSpecs[0]).toMatchObject({ targetSize: 50, targetSizeFloat: 50 });
    const name = spec.metricSpecs[0]!.metricName;

    const metrics = await call<{ metricValues: Array<{ metricName: string; metricValue: number; metricValueFloat: number }> }>(c.GetMetrics, c, {
      scaledObjectRef: ref(meta),
      metricName: name,
    });
    const http = (await (await fetch(`http://127.0.0.1:${httpPort}/api/v1/backlog?stream=${encodeURIComponent(stream)}&group=workers`)).json()) as { outstanding: number };
    expect(http.outstanding).toBe(7);
    expect(metrics.metricValues).toEqual([{ metricName: name, metricValue: http.outstanding, metricValueFloat: http.outstanding }]);
    expect(await call(c.IsActive, c, ref(meta))).toEqual({ result: true });
    expect(await call(c.IsActive, c, ref({ ...meta, activationValue: '7' }))).toEqual({ result: false });
  });

  test('metric=rate: the waiting entries over drainSeconds (no arrivals measured yet on the first read)', async () => {
    const stream = `${prefix}:rate`;
    for (let i = 0; i < 40; i++) await admin.xadd(stream, '*', 'i', String(i));
    await admin.xgroup('CREATE', stream, 'workers', '0');
    const res = await call<{ metricValues: Array<{ metricValueFloat: number }> }>(c.GetMetrics, c, {
      scaledObjectRef: ref({ stream, group: 'workers', metric: 'rate', targetValue: '150', drainSeconds: '10' }),
      metricName: '',
    });
    expect(res.metricValues[0]!.metricValueFloat).toBe(4); // 40 waiting / 10 s
  });

  test('StreamIsActive sends false at once, then pushes true when the first entry arrives', async () => {
    const stream = `${prefix}:push`;
    const s = c.StreamIsActive(ref({ stream, group: 'workers', targetValue: '10' }));
    const got: Array<{ result: boolean; at: number }> = [];
    const next = () => new Promise<void>((resolve, reject) => {
      s.once('data', (m: { result: boolean }) => {
        got.push({ ...m, at: performance.now() });
        resolve();
      });
      s.once('error', reject);
    });
    await next();
    expect(got[0]!.result).toBe(false);
    const pushed = next();
    // The first answer came after the server's first read, so its XREAD is about to block; the entry is
    // caught either by that XREAD or by the re-read after it.
    const t0 = performance.now();
    await admin.xadd(stream, '*', 'first', '1');
    await pushed;
    expect(got[1]!.result).toBe(true);
    console.log(`StreamIsActive pushed true ${(got[1]!.at - t0).toFixed(1)} ms after the first XADD (figure, not asserted)`);
    s.cancel();
  });

  test.each([
    [{ group: 'workers', targetValue: '10' }, 'scalerMetadata.stream'],
    [{ stream: `x:unexported`, group: 'workers', targetValue: '10' }, 'scalerMetadata.stream'],
    [{ stream: 'S', group: '', targetValue: '10' }, 'scalerMetadata.group'],
    [{ stream: 'S', group: 'workers' }, 'scalerMetadata.targetValue'],
    [{ stream: 'S', group: 'workers', targetValue: 'ten' }, 'scalerMetadata.targetValue'],
    [{ stream: 'S', group: 'workers', targetValue: '0' }, 'scalerMetadata.targetValue'],
    [{ stream: 'S', group: 'workers', targetValue: '10', metric: 'lag' }, 'scalerMetadata.metric'],
    [{ stream: 'S', group: 'workers', targetValue: '10', activationValue: '-1' }, 'scalerMetadata.activationValue'],
    [{ stream: 'S', group: 'workers', targetValue: '10', lagCount: '5' }, 'scalerMetadata.lagCount'],
  ])('bad metadata %j: INVALID_ARGUMENT naming %s, on every method', async (meta: Record<string, string>, field) => {
    const m = { ...meta, ...(meta.stream === 'S' ? { stream: `${prefix}:s` } : {}) };
    for (const fn of [c.IsActive, c.GetMetricSpec]) {
      await expect(call(fn, c, ref(m))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining(field) });
    }
    await expect(call(c.GetMetrics, c, { scaledObjectRef: ref(m), metricName: 'x' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining(field) });
    const s = c.StreamIsActive(ref(m));
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      s.on('error', resolve);
      s.on('data', () => undefined);
    });
    expect(err).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining(field) });
  });
});
