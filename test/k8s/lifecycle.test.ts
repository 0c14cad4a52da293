/**
 * The users' path on a real node (make cluster-up): `helm install` of the chart with the local
 * values, then, in order on the same release, autoscaling on lag from and back to zero, the pause
 * annotation, a force-deleted busy worker, the backlog alerts in a real Prometheus, a rolling
 * `helm upgrade` under load, and `helm uninstall`. Real apiserver, controllers, kubelet and pods;
 * the workers run the recording handler (test image stream-workers:e2e), so every event is counted.
 */
import { Resolver } from 'node:dns/promises';
import type Redis from 'ioredis';
import { waitFor } from '../../test-support/process';
import {
  buildE2eImage, diagnostics, clusterIP, consumers, deploymentReplicas, ExitWatcher,
  helm, helmAsync, kubectl, kubectlJson, kubectlRun, ledger, LOCAL_VALUES, names, outstanding, pods, publish, recordingWorkerArgs, redisOf, sequence,
  ReplicaTimeline, workerSelector, CHART_DIR, releasesIn, useNamespace,
} from './support/cluster';
import { chartAlertRules, HostPrometheus } from './support/prometheus';
import { ScalingSampler } from './support/report';

const NS = 'sw-e2e-lifecycle';
const RELEASE = 'sw';
const STREAM = 'events';
const GROUP = 'workers';
const LEDGER = 'e2e:ledger';
const WORK_MS = 20; // per event in the recording handler
const CONCURRENCY = 10;
const MAX_REPLICAS = 4;
const BURST = 20_000;
const n = names(RELEASE);
const log = (msg: string): void => void process.stdout.write(`[k8s lifecycle] ${msg}\n`);

/** The autoscaler's metrics of the release's one pool (`worker`: its series carry pool="worker"), read through its Service. */
async function autoscalerMetric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://${clusterIP(NS, n.autoscaler)}:8083/metrics`)).text();
  const all = ['pool="worker"', labels].filter(Boolean).join(',');
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${all}} `));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
}

/** Waits until the autoscaler has run `rounds` more rounds of its loop with outcome `outcome`. */
async function autoscalerRounds(outcome: string, rounds: number): Promise<void> {
  const metric = 'stream_workers_autoscaler_loops_total';
  const label = `outcome="${outcome}"`;
  const start = await autoscalerMetric(metric, label);
  await waitFor(async () => (await autoscalerMetric(metric, label)) >= start + rounds, 60_000, 250, `${rounds} autoscaler rounds (${outcome})`);
}

const setPaused = (paused: boolean): string =>
  kubectl(['-n', NS, 'annotate', 'deployment', n.worker, paused ? 'stream-workers.io/paused=true' : 'stream-workers.io/paused-', '--overwrite']);

async function waitNoWorkerPods(what: string, timeoutMs = 180_000): Promise<void> {
  await waitFor(() => deploymentReplicas(NS, n.worker).spec === 0 && pods(NS, workerSelector(RELEASE)).length === 0, timeoutMs, 500, what);
}

describe('helm install on the local cluster, then scaling, pause, force delete, alerts, upgrade, uninstall', () => {
  let redis: Redis;
  const exits = new ExitWatcher(NS);
  const allIds: string[] = [];
  const forceDeleted: string[] = [];
  const step = sequence(() => log(`failed; the cluster says:\n${diagnostics(NS)}`));

  useNamespace(NS);
  beforeAll(() => {
    buildE2eImage();
    exits.start();
  });
  afterAll(() => {
    exits.stop();
    redis?.disconnect();
  });

  step('1. helm install: every pod Ready, every Service answers /readyz through its ClusterIP', async () => {
    const t0 = Date.now();
    helm([
      'install', RELEASE, CHART_DIR, '--namespace', NS, '--values', LOCAL_VALUES, '--wait', '--timeout', '5m',
      ...recordingWorkerArgs(LEDGER, WORK_MS),
      '--set', `worker.concurrency=${CONCURRENCY}`, '--set', `autoscaling.maxReplicas=${MAX_REPLICAS}`,
      '--set', 'autoscaling.builtin.janitorIntervalMs=2000',
    ]);
    const installS = (Date.now() - t0) / 1000;
    const all = pods(NS, `app.kubernetes.io/instance=${RELEASE}`);
    log(`helm install --wait returned after ${installS.toFixed(1)} s; pods: ${all.map((p) => `${p.name} ${p.ready ? 'Ready' : p.phase}`).join(', ')}`);
    expect(installS).toBeLessThan(300); // the --timeout: a bound, not a benchmark
    // Producer, exporter, autoscaler, Redis, and the Deployment's first worker: a fresh install
    // leaves `replicas` to the autoscaler, so Kubernetes starts one until the first idle cooldown.
    expect(all.filter((p) => !p.ready)).toEqual([]);
    expect(new Set(all.map((p) => p.name.replace(/-[a-z0-9]+-[a-z0-9]{5}$|-\d+$/, '')))).toEqual(new Set([n.producer, n.exporter, n.autoscaler, n.redis, n.worker]));
    await waitNoWorkerPods('the autoscaler scales the idle workers to 0 (minReplicas 0)');

    for (const [svc, port] of [[n.producer, 8080], [n.exporter, 8082], [n.autoscaler, 8083]] as const) {
      const res = await fetch(`http://${clusterIP(NS, svc)}:${port}/readyz`);
      expect({ svc, status: res.status }).toEqual({ svc, status: 200 });
    }
    redis = await redisOf(NS, RELEASE);
    expect(await redis.ping()).toBe('PONG');
    // Cluster DNS answers for the Services (what the pods use to find Redis).
    const resolver = new Resolver();
    resolver.setServers([kubectl(['get', 'node', '-o', 'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}']).trim()]);
    expect(await resolver.resolve4(`${n.redis}.${NS}.svc.cluster.local`)).toEqual([clusterIP(NS, n.redis)]);
  });

  step('2. a burst of 20,000 events scales the workers from 0 and back to 0; every stopped pod drained (exit 0, consumer deleted); 0 lost', async () => {
    const timeline = new ReplicaTimeline(NS, n.worker).start();
    const sampler = new ScalingSampler({ redis, ns: NS, deployment: n.worker, stream: STREAM, group: GROUP, ledgerKey: LEDGER }).start();
    const seenPods = new Set<string>();
    let consumerCheck: { pods: string[]; consumers: string[] } | undefined;
    const podPoll = setInterval(() => pods(NS, workerSelector(RELEASE)).forEach((p) => seenPods.add(p.name)), 1000);
    try {
      const firstEventAt = Date.now();
      const ids = await publish(NS, RELEASE, STREAM, BURST, { prefix: 'burst', onBatch: (k) => (sampler.published += k) });
      allIds.push(...ids);
      log(`published ${ids.length} events in ${((Date.now() - firstEventAt) / 1000).toFixed(1)} s`);

      // While several workers run: each one's consumer in XINFO CONSUMERS is its pod name, and each
      // answers /readyz at the address cluster DNS gives for the headless metrics Service.
      await waitFor(async () => {
        const ready = pods(NS, workerSelector(RELEASE)).filter((p) => p.ready && !p.deleting).map((p) => p.name);
        if (ready.length < 2) return false;
        const names = [...(await consumers(redis, STREAM, GROUP)).keys()];
        if (!ready.every((p) => names.includes(p))) return false;
        consumerCheck = { pods: ready, consumers: names };
        return true;
      }, 180_000, 250, 'two Ready workers consuming under their pod names');
      const resolver = new Resolver();
      resolver.setServers([kubectl(['get', 'node', '-o', 'jsonpath={.items[0].status.addresses[?(@.type=="InternalIP")].address}']).trim()]);
      const workerIps = await resolver.resolve4(`${n.worker}-metrics.${NS}.svc.cluster.local`).catch(() => [] as string[]);
      const readyz = await Promise.all(workerIps.map(async (ip) => (await fetch(`http://${ip}:8081/readyz`).catch(() => undefined))?.status));
      log(`worker pods ${consumerCheck!.pods.join(', ')}; consumers ${consumerCheck!.consumers.join(', ')}; headless DNS ${workerIps.join(', ')} -> /readyz ${readyz.join(', ')}`);
      expect(workerIps.length).toBeGreaterThan(0);
      expect(readyz.every((s) => s === 200)).toBe(true);

      await waitFor(async () => (await outstanding(redis, STREAM, GROUP)) === 0, 300_000, 250, 'backlog drained');
      const drainedAt = Date.now();
      const firstReady = timeline.changes.find((c) => c.ready > 0);
      const allReady = timeline.changes.find((c) => c.ready >= MAX_REPLICAS);
      const reached = Math.max(...timeline.changes.map((c) => c.replicas));
      await waitNoWorkerPods('workers back to 0 and gone');
      timeline.stop();
      sampler.stop();
      clearInterval(podPoll);

      const drainS = (drainedAt - firstEventAt) / 1000;
      const idealS = (BURST * WORK_MS) / (reached * CONCURRENCY) / 1000;
      const l = await ledger(redis, LEDGER, ids);
      const stoppedPods = [...seenPods];
      const exitOf = (pod: string): number[] => exits.of(pod);
      const left = await consumers(redis, STREAM, GROUP);
      log(`replicas timeline: ${timeline}`);
      const firstConsumer = sampler.points.find((p) => p.consumers > 0);
      log(`first event -> first Ready worker: ${firstReady ? ((timeline.t0 + firstReady.t - firstEventAt) / 1000).toFixed(1) : 'never'} s; -> first worker reading (its consumer in the group): ${firstConsumer ? (firstConsumer.t - (firstEventAt - sampler.t0) / 1000).toFixed(1) : 'never'} s`);
      log(`drain: ${drainS.toFixed(1)} s from the first event for ${BURST} events; ideal at ${reached} replicas x ${CONCURRENCY} handlers x ${WORK_MS} ms: ${idealS.toFixed(1)} s (${(drainS / idealS).toFixed(2)}x)`);
      if (allReady) {
        // From the moment all replicas ran: the backlog left then, against what they can do at best.
        // (The sampler's backlog, on its own clock: seconds since sampler.t0.)
        const allReadyAt = timeline.t0 + allReady.t;
        const at = sampler.points.find((p) => sampler.t0 + p.t * 1000 >= allReadyAt);
        if (at) {
          const s = (drainedAt - sampler.t0 - at.t * 1000) / 1000;
          const ideal = (at.outstanding * WORK_MS) / (reached * CONCURRENCY) / 1000;
          log(`all ${reached} workers Ready at t+${(allReady.t / 1000).toFixed(1)} s with ${at.outstanding} outstanding: drained in ${s.toFixed(1)} s; ideal ${ideal.toFixed(1)} s (${(s / ideal).toFixed(2)}x)`);
        }
      }
      log(`ledger: ${JSON.stringify(l)}; pods stopped: ${stoppedPods.map((p) => `${p}=${exitOf(p).join('/')}`).join(', ')}; consumers left: ${[...left.keys()].join(', ') || 'none'}`);

      const png = sampler.write('stream-workers on a real Kubernetes 1.20 node: 20,000 events from 0 workers', `builtin autoscaler, targetPerReplica 1000, max ${MAX_REPLICAS} · lost ${l.lost} · duplicates ${l.duplicates} · drain ${drainS.toFixed(1)} s`, MAX_REPLICAS);
      log(`chart: ${png}`);
      expect(firstReady).toBeDefined();
      expect(reached).toBe(MAX_REPLICAS);
      expect(l.lost).toBe(0);
      expect(stoppedPods.length).toBeGreaterThanOrEqual(MAX_REPLICAS);
      for (const pod of stoppedPods) expect({ pod, exits: exitOf(pod) }).toEqual({ pod, exits: [0] });
      for (const pod of stoppedPods) expect(left.has(pod)).toBe(false);
    } finally {
      timeline.stop();
      sampler.stop();
      clearInterval(podPoll);
    }
  });

  step('3. builtin mode: the paused annotation keeps a manual kubectl scale; removing it hands control back', async () => {
    setPaused(true);
    kubectl(['-n', NS, 'scale', 'deployment', n.worker, '--replicas=2']);
    await waitFor(() => deploymentReplicas(NS, n.worker).ready === 2, 120_000, 250, '2 Ready workers after kubectl scale');
    await waitFor(async () => (await autoscalerMetric('stream_workers_autoscaler_paused')) === 1, 30_000, 250, 'autoscaler sees the pause');
    // Several rounds while paused with an idle group: unpaused, each would scale to 0.
    await autoscalerRounds('paused', 5);
    expect(deploymentReplicas(NS, n.worker).spec).toBe(2);
    expect(await autoscalerMetric('stream_workers_autoscaler_current_replicas')).toBe(2);

    setPaused(false);
    await waitNoWorkerPods('autoscaler takes back control: idle group -> 0 workers');
    expect(await autoscalerMetric('stream_workers_autoscaler_paused')).toBe(0);
  });

  step('4. a busy worker pod force-deleted: its entries are reclaimed after CLAIM_IDLE_MS, the janitor deletes its consumer only once the pod is gone and it holds nothing; 0 lost', async () => {
    setPaused(true);
    kubectl(['-n', NS, 'scale', 'deployment', n.worker, '--replicas=3']);
    await waitFor(() => deploymentReplicas(NS, n.worker).ready === 3, 120_000, 250, '3 Ready workers');
    // Slow events (3 s each): every worker holds some when the victim goes.
    const ids = await publish(NS, RELEASE, STREAM, 60, { prefix: 'slow', type: 'slow', batch: 60, data: () => ({ ms: 3000 }) });
    allIds.push(...ids);
    const victim: string = await waitFor(async () => {
      const held = await consumers(redis, STREAM, GROUP);
      return pods(NS, workerSelector(RELEASE)).find((p) => p.ready && (held.get(p.name) ?? 0) > 0)?.name ?? false;
    }, 30_000, 100, 'a worker holding entries') as string;
    const heldBefore = (await consumers(redis, STREAM, GROUP)).get(victim)!;
    forceDeleted.push(victim);
    kubectl(['-n', NS, 'delete', 'pod', victim, '--grace-period=0', '--force']);
    log(`force-deleted ${victim} holding ${heldBefore} entries`);
    await waitFor(() => kubectlRun(['-n', NS, 'get', 'pod', victim]).status !== 0, 60_000, 250, `pod ${victim} gone`);
    // The pod is gone but its entries are not reclaimed yet (CLAIM_IDLE_MS 5 s): the janitor keeps the consumer.
    const stillHeld = (await consumers(redis, STREAM, GROUP)).get(victim);
    log(`pod gone; its consumer holds ${stillHeld ?? 'nothing (deleted)'}`);
    expect(stillHeld).toBeGreaterThan(0);
    // Then others reclaim its entries (XAUTOCLAIM after CLAIM_IDLE_MS) and the janitor deletes the
    // consumer (pod gone, 0 pending, idle past the janitor's 30 s): the last state seen before it
    // disappears must hold nothing.
    let lastPending = stillHeld!;
    let reclaimedAfterMs: number | undefined;
    const goneAt = Date.now();
    await waitFor(async () => {
      const held = (await consumers(redis, STREAM, GROUP)).get(victim);
      if (held === undefined) return true;
      if (held === 0 && lastPending > 0) reclaimedAfterMs = Date.now() - goneAt;
      lastPending = held;
      return false;
    }, 180_000, 250, `janitor deletes consumer ${victim}`);
    log(`entries of ${victim} reclaimed ${reclaimedAfterMs ?? '?'} ms after its pod was gone; consumer deleted ${Date.now() - goneAt} ms after, holding ${lastPending} when last seen`);
    expect(lastPending).toBe(0);
    await waitFor(async () => (await outstanding(redis, STREAM, GROUP)) === 0, 120_000, 250, 'slow events done');
    const l = await ledger(redis, LEDGER, ids);
    log(`force delete: ledger ${JSON.stringify(l)} (duplicates are entries the victim had started)`);
    expect(l.lost).toBe(0);
    expect(l.duplicates).toBeLessThanOrEqual(heldBefore);
    kubectl(['-n', NS, 'scale', 'deployment', n.worker, '--replicas=0']);
    await waitNoWorkerPods('manual scale to 0 while paused');
  });

  step('5. Prometheus (Debian package, on the host, pods discovered through the apiserver) fires the backlog alerts on a real backlog in the cluster and resolves them after the drain', async () => {
    // Test copy of the chart's rules: `for:` shortened to 2 s and the age threshold of
    // StreamWorkersBacklogAgeHigh lowered from 300 s to 5 s; every other expression unchanged.
    const rules = chartAlertRules().replace(/^(\s+for:) \S+$/gm, '$1 2s').replace('(stream_workers_group_lag_seconds) > 300', '(stream_workers_group_lag_seconds) > 5');
    expect(rules).toContain('(stream_workers_group_lag_seconds) > 5');
    const prom = new HostPrometheus();
    await prom.start(rules, NS);
    try {
      await waitFor(async () => (await prom.query(`up{namespace="${NS}",component="lag-exporter"} == 1`)).length === 1, 60_000, 500, `exporter pod scraped (log: ${prom.logTail})`);
      const ours = async (alert: string) => (await prom.alerts(alert)).filter((a) => a.labels.namespace === NS && a.labels.stream === STREAM);
      expect(await ours('StreamWorkersBacklogAgeHigh')).toEqual([]);

      // A real backlog: events through the producer while the workers are held at 0 (paused).
      const ids = await publish(NS, RELEASE, STREAM, 500, { prefix: 'alert' });
      allIds.push(...ids);
      for (const alert of ['StreamWorkersBacklogAgeHigh', 'StreamWorkersNoConsumers']) {
        const firing = (await waitFor(async () => (await ours(alert)).find((a) => a.state === 'firing'), 90_000, 500, `${alert} firing`))!;
        log(`${alert} firing: ${JSON.stringify(firing.labels)}`);
        expect(firing.labels).toMatchObject({ namespace: NS, stream: STREAM, group: GROUP });
      }
      // Hand control back: the autoscaler scales up, the workers drain, the alerts resolve.
      setPaused(false);
      await waitFor(async () => (await outstanding(redis, STREAM, GROUP)) === 0, 180_000, 250, 'backlog drained after unpause');
      for (const alert of ['StreamWorkersBacklogAgeHigh', 'StreamWorkersNoConsumers']) {
        await waitFor(async () => (await ours(alert)).length === 0, 90_000, 500, `${alert} resolved`);
      }
      expect((await ledger(redis, LEDGER, ids)).lost).toBe(0);
    } finally {
      await prom.stop();
    }
  });

  step('6. helm upgrade of a worker setting rolls the workers while events flow (0 lost); helm uninstall leaves no object of the release', async () => {
    // Two workers held by the pause annotation (the autoscaler would take an idle-looking group to
    // 0 between the flow's batches), and a steady flow of about 100 events/s for the whole upgrade.
    setPaused(true);
    kubectl(['-n', NS, 'scale', 'deployment', n.worker, '--replicas=2']);
    await waitFor(() => deploymentReplicas(NS, n.worker).ready === 2, 120_000, 250, '2 Ready workers');
    let flowing = true;
    const flowIds: string[] = [];
    const flow = (async () => {
      for (let i = 0; flowing; i++) {
        flowIds.push(...(await publish(NS, RELEASE, STREAM, 50, { prefix: `flow-${i}`, batch: 50 })));
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    try {
      const before = pods(NS, workerSelector(RELEASE)).map((p) => p.name);
      // --force-conflicts: the chart writes the live replica count, which the autoscaler may change while helm applies (docs/kubernetes.md).
      await helmAsync(['upgrade', RELEASE, CHART_DIR, '--namespace', NS, '--reuse-values', '--set', 'worker.batchSize=50', '--force-conflicts', '--wait', '--timeout', '5m']);
      const d = kubectlJson(['-n', NS, 'get', 'deployment', n.worker]);
      const env = d.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
      expect(env.find((e) => e.name === 'BATCH_SIZE')?.value).toBe('50');
      await waitFor(() => {
        const now = pods(NS, workerSelector(RELEASE));
        return now.length > 0 && now.every((p) => !before.includes(p.name) && p.ready);
      }, 180_000, 500, 'workers rolled to the new template');
      log(`rolled: before ${before.join(', ')}; after ${pods(NS, workerSelector(RELEASE)).map((p) => p.name).join(', ')}`);
    } finally {
      flowing = false;
      await flow;
    }
    allIds.push(...flowIds);
    await waitFor(async () => (await outstanding(redis, STREAM, GROUP)) === 0, 180_000, 250, 'flow drained');
    expect(deploymentReplicas(NS, n.worker).spec).toBe(2); // the upgrade kept the live count
    setPaused(false);
    const flowLedger = await ledger(redis, LEDGER, flowIds);
    const whole = await ledger(redis, LEDGER, allIds);
    log(`upgrade under load: ${flowIds.length} events, ledger ${JSON.stringify(flowLedger)}; whole test: ${allIds.length} events, ${JSON.stringify(whole)}`);
    expect(flowLedger.lost).toBe(0);
    expect(whole.lost).toBe(0);
    // Every worker the kubelet stopped exited 0, but the force-deleted one (SIGKILLed after 2 s).
    const badExits = exits.exits.filter((e) => e.exitCode !== 0 && !forceDeleted.includes(e.pod));
    expect(badExits).toEqual([]);

    redis.disconnect();
    helm(['uninstall', RELEASE, '--namespace', NS, '--wait', '--timeout', '3m']);
    await waitFor(() => pods(NS, `app.kubernetes.io/instance=${RELEASE}`).length === 0, 120_000, 500, 'release pods gone');
    const kinds = kubectl(['api-resources', '--verbs=list', '--namespaced', '-o', 'name']).split('\n').filter((k) => k && k !== 'events' && k !== 'events.events.k8s.io');
    const left = kubectl(['-n', NS, 'get', kinds.join(','), '-o', 'name', '--ignore-not-found']).split('\n').filter(Boolean);
    // What Kubernetes itself keeps in every namespace.
    // The producer's generated API token is kept on purpose (helm.sh/resource-policy: keep, clients hold it).
    const own = left.filter((o) => !/^(serviceaccount\/default|secret\/default-token-[a-z0-9]+|configmap\/kube-root-ca\.crt|secret\/sw-stream-workers-producer-tokens)$/.test(o));
    log(`after helm uninstall, namespace ${NS} holds: ${left.join(', ')}`);
    expect(own).toEqual([]);
    expect(kubectl(['get', 'clusterroles,clusterrolebindings', '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'name'])).toBe('');
    expect(releasesIn(NS)).toEqual([]);
  });
});
