/**
 * k8s/ holds plain manifests rendered from the chart (scripts/render-manifests.sh, `make manifests`).
 * This test renders them again and fails when k8s/ is out of date; it also builds the kustomization
 * (kubectl kustomize, offline) and validates what comes out.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HELM, parseObjects, REPO_ROOT } from './support/helm';
import { schemaProblems } from './support/validate';
import { podSpecOf, restrictedViolations, type PodSpec } from './support/pss';

const K8S = join(REPO_ROOT, 'k8s');

test('k8s/ is up to date with the chart (re-run `make manifests` when this fails)', () => {
  const out = mkdtempSync(join(tmpdir(), 'sw-manifests-'));
  try {
    const r = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'render-manifests.sh')], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, OUT_DIR: out, HELM } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const fresh = readdirSync(out).sort();
    expect(fresh).toEqual(['kustomization.yaml', 'namespace.yaml', 'stream-workers.yaml']);
    expect(readdirSync(K8S).sort()).toEqual(fresh);
    for (const f of fresh) {
      // toBe on the whole text: jest shows the differing lines.
      expect({ file: f, text: readFileSync(join(K8S, f), 'utf8') }).toEqual({ file: f, text: readFileSync(join(out, f), 'utf8') });
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('kubectl kustomize k8s/ builds objects that validate, all in the namespace that enforces "restricted"', () => {
  const kubectl = join(REPO_ROOT, '.tools', 'bin', 'kubectl');
  const r = spawnSync(kubectl, ['kustomize', K8S], { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const objs = parseObjects(r.stdout);
  const ns = objs.find((o) => o.kind === 'Namespace')!;
  expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  const rest = objs.filter((o) => o.kind !== 'Namespace');
  expect(rest.flatMap(schemaProblems)).toEqual([]);
  for (const o of rest) expect({ o: `${o.kind}/${o.metadata.name}`, ns: o.metadata.namespace }).toEqual({ o: `${o.kind}/${o.metadata.name}`, ns: 'stream-workers' });
  const pods = rest.map((o) => podSpecOf(o)).filter((p): p is PodSpec => p !== undefined);
  expect(pods.length).toBeGreaterThanOrEqual(4);
  for (const p of pods) expect(restrictedViolations(p)).toEqual([]);
  // No Helm bookkeeping in plain manifests.
  expect(r.stdout).not.toMatch(/managed-by: Helm|helm\.sh\/chart/);
});
