import { autoscalerConfig } from '../src/config';
import { configErrorOf } from '../../../test-support/config';

const errorOf = configErrorOf;

describe('STREAM_SHARDS (autoscaler configuration)', () => {
  test('autoscaler: SCALING_MODE=rate with STREAM_SHARDS > 1 is refused naming both', () => {
    expect(errorOf(() => autoscalerConfig.parse({ STREAM_SHARDS: '3', SCALING_MODE: 'rate' }))).toMatch(/SCALING_MODE="rate" is invalid: expected lag with STREAM_SHARDS=3/);
    expect(autoscalerConfig.parse({ STREAM_SHARDS: '3' })).toMatchObject({ streamShards: 3, scalingMode: 'lag' });
  });
  test('POOLS: a pool with scalingMode rate and STREAM_SHARDS > 1 is refused naming the pool\'s field', () => {
    const pool = (over: object): object => ({
      name: 'a', stream: 's', group: 'g', deployment: 'd-a', targetPerReplica: 100, activation: 0, minReplicas: 0, maxReplicas: 5,
      pollIntervalMs: 1000, cooldownS: 300, scaleDownWindowS: 300, scalingMode: 'lag', targetDrainS: 30, rateWindowS: 5, activationWatch: false, ...over,
    });
    const POOLS = JSON.stringify([pool({}), pool({ name: 'b', group: 'g2', deployment: 'd-b', scalingMode: 'rate' })]);
    expect(errorOf(() => autoscalerConfig.parse({ STREAM_SHARDS: '2', POOLS }))).toMatch(/POOLS\[1\]\.scalingMode="rate" is invalid: expected lag with STREAM_SHARDS=2/);
    expect(autoscalerConfig.parse({ POOLS }).pools).toHaveLength(2);
  });
});
