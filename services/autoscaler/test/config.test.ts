import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigErrors, configTable } from '@stream-workers/core';
import { autoscalerConfig } from '../src/config';

describe('autoscaler configuration', () => {
  test('defaults are docs/design.md\'s', () => {
    const c = autoscalerConfig.parse({});
    expect(c).toMatchObject({
      port: 8083, stream: 'events', group: 'workers', targetKind: 'deployment', targetName: 'stream-workers-worker', namespace: 'default',
      targetPerReplica: 100, activation: 0, minReplicas: 0, maxReplicas: 20, pollIntervalMs: 5000, cooldownS: 300, scaleDownWindowS: 300,
      fallbackReplicas: undefined, podSelector: undefined, janitorIntervalMs: 60_000, leaderElection: true, leaseName: 'stream-workers-worker-autoscaler',
      leaseDurationS: 15, identity: undefined, kubeconfig: undefined,
    });
  });

  test('derived values: NAMESPACE from POD_NAMESPACE, LEASE_NAME from TARGET_NAME', () => {
    const c = autoscalerConfig.parse({ POD_NAMESPACE: 'apps', TARGET_NAME: 'orders-worker', FALLBACK_REPLICAS: '2', POD_NAME: 'as-0' });
    expect(c.namespace).toBe('apps');
    expect(c.leaseName).toBe('orders-worker-autoscaler');
    expect(c.fallbackReplicas).toBe(2);
    expect(c.identity).toBe('as-0');
    expect(autoscalerConfig.parse({ POD_NAMESPACE: 'apps', NAMESPACE: 'other' }).namespace).toBe('other');
  });

  test.each([
    ['TARGET_KIND', 'statefulset', /TARGET_KIND="statefulset" is invalid: expected one of deployment, local/],
    ['TARGET_PER_REPLICA', '0', /TARGET_PER_REPLICA="0" is invalid: expected an integer ≥ 1/],
    ['FALLBACK_REPLICAS', '0', /FALLBACK_REPLICAS="0" is invalid: expected an integer ≥ 1/],
    ['TARGET_NAME', 'Workers_1', /TARGET_NAME="Workers_1" is invalid: expected a Kubernetes object name/],
    ['POLL_INTERVAL_MS', '5s', /POLL_INTERVAL_MS="5s" is invalid/],
    ['STREAM', 'ev*', /STREAM="ev\*" is invalid/],
    ['LEADER_ELECTION', 'perhaps', /LEADER_ELECTION="perhaps" is invalid: expected true or false/],
  ])('%s=%p is rejected with a message naming it', (name, value, message) => {
    expect(() => autoscalerConfig.parse({ [name]: value })).toThrow(ConfigErrors);
    expect(() => autoscalerConfig.parse({ [name]: value })).toThrow(message);
  });

  test('docs/autoscaler.md carries the generated configuration table', () => {
    const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'autoscaler.md'), 'utf8');
    expect(doc).toContain(configTable(autoscalerConfig));
  });
});
