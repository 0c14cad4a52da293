/**
 * PRODUCER_MIN_REPLICAS_ACK (issue 17): with minReplicasAck the publish script is followed by WAIT on
 * the same connection; the append resolves only once that many replicas hold it, else
 * PublishNotReplicatedError (the HTTP producer's 503 `not_replicated`). Real primary and replica.
 */
import { PublishNotReplicatedError, StreamProducer, closeRedis, createRedis } from '../src';
import { command, startServer, until, type ServerProcess } from '../../../test-support/redis-topologies';

let primary: ServerProcess;
let replica: ServerProcess;
beforeAll(async () => {
  primary = await startServer();
  replica = await startServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  await until('replica in sync', async () => /master_link_status:up/.test(String(await command(replica.port, ['INFO', 'replication']))));
});
afterAll(async () => {
  await replica?.kill();
  await primary?.kill();
});

test('an append confirmed by the replica resolves; without the replica it is refused as not replicated (and is on the primary)', async () => {
  const redis = createRedis({ url: `redis://127.0.0.1:${primary.port}`, role: 'command', overrides: { autoResendUnfulfilledCommands: false } });
  try {
    const producer = new StreamProducer({ redis, minReplicasAck: 1, timeoutMs: 1000 });
    const ok = await producer.publish('s', [{ type: 't', source: 'src', id: 'e1' }]);
    expect(ok.ids).toHaveLength(1);
    expect(await command(replica.port, ['XLEN', 's'])).toBe(1);

    await replica.kill('SIGKILL');
    await until('primary sees no replica', async () => /connected_slaves:0/.test(String(await command(primary.port, ['INFO', 'replication']))));
    const refused = producer.publish('s', [{ type: 't', source: 'src', id: 'e2' }]);
    await expect(refused).rejects.toThrow(PublishNotReplicatedError);
    await expect(refused).rejects.toThrow(/0 of 1 required replicas confirmed the append in time/);
    expect(await command(primary.port, ['XLEN', 's'])).toBe(2); // appended, not confirmed: a resend with the same id is a duplicate

    const resend = await new StreamProducer({ redis, timeoutMs: 1000 }).publish('s', [{ type: 't', source: 'src', id: 'e2' }]);
    expect(resend.duplicates).toBe(1);
  } finally {
    await closeRedis(redis);
  }
});

test('minReplicasAck is checked', () => {
  const redis = createRedis({ url: `redis://127.0.0.1:${primary.port}`, role: 'command', overrides: { lazyConnect: true } });
  expect(() => new StreamProducer({ redis, minReplicasAck: -1 })).toThrow(/minReplicasAck must be an integer ≥ 0, got -1/);
  redis.disconnect();
});
