import { workerConfig } from '../src/config';
import { configErrorOf } from '../../../test-support/config';

const errorOf = configErrorOf;

describe('STREAM_SHARDS and the dead-letter stream (worker configuration)', () => {
  test('defaults: one shard, <STREAM>:dlq on one server, {<STREAM>}:dlq with REDIS_CLUSTER_NODES', () => {
    expect(workerConfig.parse({ STREAM: 'orders' })).toMatchObject({ streamShards: 1, deadLetterStream: 'orders:dlq' });
    expect(workerConfig.parse({ STREAM: 'orders', REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toMatchObject({ deadLetterStream: '{orders}:dlq' });
    expect(workerConfig.parse({ STREAM: '{orders}', REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toMatchObject({ deadLetterStream: '{orders}:dlq' });
    expect(workerConfig.parse({ STREAM: 'orders', STREAM_SHARDS: '6' })).toMatchObject({ streamShards: 6 });
  });

  test('DEAD_LETTER_STREAM set with STREAM_SHARDS > 1 is refused, naming both', () => {
    expect(errorOf(() => workerConfig.parse({ STREAM: 'orders', STREAM_SHARDS: '4', DEAD_LETTER_STREAM: 'dead' }))).toMatch(/DEAD_LETTER_STREAM="dead" is invalid: expected unset with STREAM_SHARDS=4/);
  });

  test('cluster: a DEAD_LETTER_STREAM in another slot than STREAM is refused; one in its slot is taken', () => {
    const env = { STREAM: 'orders', REDIS_CLUSTER_NODES: '127.0.0.1:7000' };
    expect(errorOf(() => workerConfig.parse({ ...env, DEAD_LETTER_STREAM: 'orders:dlq' }))).toMatch(/DEAD_LETTER_STREAM="orders:dlq" is invalid: expected a key in the slot of STREAM .*\{orders\}:dlq/);
    expect(workerConfig.parse({ ...env, DEAD_LETTER_STREAM: '{orders}:dead' })).toMatchObject({ deadLetterStream: '{orders}:dead' });
  });

  test('cluster: a stream with "}" but no hash tag is refused naming STREAM', () => {
    expect(errorOf(() => workerConfig.parse({ STREAM: 'a}b', REDIS_CLUSTER_NODES: '127.0.0.1:7000' }))).toMatch(/STREAM="a}b" is invalid/);
  });

  test('STREAM_SHARDS out of range names the variable', () => {
    expect(errorOf(() => workerConfig.parse({ STREAM_SHARDS: '0' }))).toMatch(/STREAM_SHARDS="0" is invalid: expected an integer from 1 to 1024/);
  });

});
