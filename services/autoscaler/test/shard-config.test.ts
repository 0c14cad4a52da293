import { ConfigErrors } from '@stream-workers/core';
import { autoscalerConfig } from '../src/config';

const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    if (err instanceof ConfigErrors) return err.message;
    throw err;
  }
  throw new Error('no configuration error');
};

describe('STREAM_SHARDS (autoscaler configuration)', () => {
  test('autoscaler: SCALING_MODE=rate with STREAM_SHARDS > 1 is refused naming both', () => {
    expect(errorOf(() => autoscalerConfig.parse({ STREAM_SHARDS: '3', SCALING_MODE: 'rate' }))).toMatch(/SCALING_MODE="rate" is invalid: expected lag with STREAM_SHARDS=3/);
    expect(autoscalerConfig.parse({ STREAM_SHARDS: '3' })).toMatchObject({ streamShards: 3, scalingMode: 'lag' });
  });
});
