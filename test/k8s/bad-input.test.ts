/**
 * Bad values against the real cluster: `helm install` must fail on the schema with a message naming
 * the key, and leave nothing behind (no release, no object in the namespace).
 */
import { helmRun, kubectl, LOCAL_VALUES, CHART_DIR, releasesIn, useNamespace, STEP_TIMEOUT_MS } from './support/cluster';

const NS = 'sw-e2e-bad-input';

describe('helm install with bad values on the real cluster', () => {
  useNamespace(NS);

  const objectsIn = (ns: string): string[] => {
    const kinds = kubectl(['api-resources', '--verbs=list', '--namespaced', '-o', 'name']).split('\n').filter((k) => k && !k.startsWith('events'));
    return kubectl(['-n', ns, 'get', kinds.join(','), '-o', 'name', '--ignore-not-found'])
      .split('\n')
      .filter((o) => o && !/^(serviceaccount\/default|secret\/default-token-[a-z0-9]+|configmap\/kube-root-ca\.crt)$/.test(o));
  };

  test.each([
    ['a typo in a key', ['worker.batchSzie=10'], /batchSzie/],
    ['an out-of-range value', ['worker.batchSize=0'], /batchSize/],
    ['a value outside the allowed set', ['autoscaling.mode=sometimes'], /mode/],
  ])('%s fails with the schema naming the key; nothing is created', (_what, sets, named) => {
    const r = helmRun(['install', 'bad', CHART_DIR, '--namespace', NS, '--values', LOCAL_VALUES, ...sets.flatMap((s) => ['--set', s])]);
    process.stdout.write(`[k8s bad-input] helm install --set ${sets.join(' ')}: exit ${r.status}: ${r.stderr.trim().split('\n').slice(0, 4).join(' | ')}\n`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(r.stderr).toMatch(named);
    expect(releasesIn(NS)).toEqual([]);
    expect(objectsIn(NS)).toEqual([]);
  }, STEP_TIMEOUT_MS);
});
