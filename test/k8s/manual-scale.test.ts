/**
 * `kubectl scale` with autoscaling.mode=none on the real node, then `helm upgrade` to builtin: the
 * manual count must survive the upgrade (the chart renders the live count for an existing
 * Deployment) until the autoscaler decides; it must never drop to the default of 1 in between.
 */
import { waitFor } from '../../test-support/process';
import {
  deploymentReplicas, helm, kubectl, LOCAL_VALUES, names, ReplicaTimeline, CHART_DIR, useNamespace, STEP_TIMEOUT_MS,
} from './support/cluster';

const NS = 'sw-e2e-manual';
const RELEASE = 'manual';
const n = names(RELEASE);
const log = (msg: string): void => void process.stdout.write(`[k8s manual-scale] ${msg}\n`);

describe('kubectl scale with mode none, and the upgrade to builtin', () => {
  useNamespace(NS);

  test('mode none: kubectl scale sticks; the upgrade to builtin keeps the count until the autoscaler decides', async () => {
    helm(['install', RELEASE, CHART_DIR, '--namespace', NS, '--values', LOCAL_VALUES, '--set', 'autoscaling.mode=none', '--set', 'worker.replicas=1',
      '--set', 'producer.enabled=false', '--wait', '--timeout', '5m']);
    expect(deploymentReplicas(NS, n.worker).spec).toBe(1);
    kubectl(['-n', NS, 'scale', 'deployment', n.worker, '--replicas=3']);
    await waitFor(() => deploymentReplicas(NS, n.worker).ready === 3, 120_000, 250, '3 Ready workers');

    // Nothing in the release fights the manual count: no autoscaler exists in mode none, and the
    // Deployment controller keeps 3 Ready.
    expect(kubectl(['-n', NS, 'get', 'deployments', '-o', 'name'])).not.toContain(n.autoscaler);
    expect(deploymentReplicas(NS, n.worker)).toEqual({ spec: 3, ready: 3, available: 3 });

    const timeline = new ReplicaTimeline(NS, n.worker, 200).start();
    try {
      helm(['upgrade', RELEASE, CHART_DIR, '--namespace', NS, '--reuse-values', '--set', 'autoscaling.mode=builtin', '--set', 'autoscaling.cooldownPeriodSeconds=15', '--force-conflicts', '--wait', '--timeout', '5m']);
      expect(deploymentReplicas(NS, n.worker).spec).toBe(3);
      // The autoscaler (idle group) then scales to its decision, 0 after the cooldown.
      // (Read from the timeline itself, so that its last entry is the 0.)
      await waitFor(() => timeline.changes[timeline.changes.length - 1]?.replicas === 0, 180_000, 250, 'autoscaler scales the idle workers to 0');
    } finally {
      timeline.stop();
    }
    log(`replicas through the upgrade: ${timeline}`);
    // The autoscaler's first decision found the manual count: nothing reset it in between.
    const decisions = kubectl(['-n', NS, 'logs', `deployment/${n.autoscaler}`]).split('\n').filter((l) => l.includes('"desired"')).map((l) => JSON.parse(l) as { current: number; desired: number });
    log(`autoscaler decisions: ${decisions.map((d) => `${d.current}->${d.desired}`).join(', ')}`);
    expect(decisions[0]?.current).toBe(3);
    expect(timeline.changes[0]?.replicas).toBe(3);
    expect(timeline.changes[timeline.changes.length - 1]?.replicas).toBe(0);
  }, STEP_TIMEOUT_MS);
});
