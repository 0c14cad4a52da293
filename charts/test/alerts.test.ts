/**
 * The alert rules: one source (charts/stream-workers/files/alerts.yaml), the PrometheusRule rendered
 * from it (no drift), `promtool check rules`, and `promtool test rules` with series fixtures that make
 * every alert fire and stay silent. A runbook section exists for every alert.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CHART_DIR, CI_DIR, one, render, REPO_ROOT } from './support/helm';
import { promtool } from './support/promtool';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Groups {
  groups: Array<{ name: string; rules: Rule[] }>;
}

const SOURCE = join(CHART_DIR, 'files', 'alerts.yaml');
const FIXTURES = join(__dirname, 'fixtures', 'alerts.test.yaml');
const source = (): Groups => parse(readFileSync(SOURCE, 'utf8')) as Groups;
const alerts = (g: Groups): Rule[] => g.groups.flatMap((x) => x.rules).filter((r) => r.alert);

const REQUIRED = [
  'StreamWorkersBacklogAgeHigh', // backlog age too high (group_lag_seconds)
  'StreamWorkersBacklogGrowing', // predict_linear on group_outstanding
  'StreamWorkersNoConsumers', // outstanding work, no consumers
  'StreamWorkersPendingStuck', // group_oldest_pending_seconds
  'StreamWorkersDeadLettersIncreasing', // the :dlq stream grows / dead_letter outcomes
  'StreamWorkersExporterDown', // up == 0 or exporter_up == 0
  'StreamWorkersAutoscalerAtMax', // pinned at max while the backlog grows
];

test('the source defines every required alert, each with summary, description, severity and a runbook section', () => {
  const rules = alerts(source());
  expect(rules.map((r) => r.alert).sort()).toEqual([...REQUIRED].sort());
  const runbook = readFileSync(join(REPO_ROOT, 'docs', 'runbook.md'), 'utf8');
  const anchors = new Set([...runbook.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')));
  for (const r of rules) {
    expect({ alert: r.alert, summary: !!r.annotations?.summary, description: !!r.annotations?.description, severity: r.labels?.severity }).toEqual({ alert: r.alert, summary: true, description: true, severity: expect.stringMatching(/^(warning|critical)$/) });
    const url = r.annotations!.runbook_url!;
    expect(url).toMatch(/\/docs\/runbook\.md#[a-z0-9-]+$/);
    expect({ alert: r.alert, anchorInRunbook: anchors.has(url.split('#')[1]!) }).toEqual({ alert: r.alert, anchorInRunbook: true });
  }
  expect(source().groups.flatMap((g) => g.rules).some((r) => /group_lag_seconds/.test(r.expr) && r.alert === 'StreamWorkersBacklogAgeHigh')).toBe(true);
  expect(rules.find((r) => r.alert === 'StreamWorkersBacklogGrowing')!.expr).toMatch(/predict_linear\(stream_workers_group_outstanding/);
});

test('promtool check rules accepts the source', () => {
  const r = promtool(['check', 'rules', SOURCE]);
  expect(r.output).toContain(`SUCCESS: ${REQUIRED.length} rules found`);
  expect(r.status).toBe(0);
});

test('promtool test rules: every alert fires on its fixture series and stays silent on the others', () => {
  const r = promtool(['test', 'rules', FIXTURES]);
  expect(r.output).toContain('SUCCESS');
  expect(r.status).toBe(0);
  // Each alert has at least one firing case and one silent case in the fixtures.
  const fixtures = parse(readFileSync(FIXTURES, 'utf8')) as { tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> };
  const cases = fixtures.tests.flatMap((t) => t.alert_rule_test);
  for (const name of REQUIRED) {
    const mine = cases.filter((c) => c.alertname === name);
    expect({ name, fires: mine.some((c) => c.exp_alerts.length > 0), silent: mine.some((c) => c.exp_alerts.length === 0) }).toEqual({ name, fires: true, silent: true });
  }
});

test('promtool test rules fails when an alert is broken (the fixtures can fail)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sw-rules-'));
  try {
    const broken = readFileSync(SOURCE, 'utf8').replace('(stream_workers_group_lag_seconds) > 300', '(stream_workers_group_lag_seconds) > 3000');
    writeFileSync(join(dir, 'alerts.yaml'), broken);
    const fixtures = readFileSync(FIXTURES, 'utf8').replace('../../stream-workers/files/alerts.yaml', 'alerts.yaml');
    writeFileSync(join(dir, 'alerts.test.yaml'), fixtures);
    const r = promtool(['test', 'rules', join(dir, 'alerts.test.yaml')]);
    expect(r.status).not.toBe(0);
    expect(r.output).toMatch(/FAILED[\s\S]*StreamWorkersBacklogAgeHigh/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('the PrometheusRule is rendered from the source', () => {
  const rendered = (files: string[], set: string[] = []): Groups => {
    const pr = one(render({ valuesFiles: files, set: ['monitoring.enabled=true', ...set] }), 'PrometheusRule') as unknown as { spec: Groups };
    return pr.spec;
  };

  test('with default values it is exactly the source (no drift)', () => {
    expect(rendered([])).toEqual(source());
  });

  test('values change runbook base, for, severity and labels, and leave alerts out; promtool accepts the result', () => {
    const spec = rendered([join(CI_DIR, 'monitoring-operator-values.yaml')]);
    const names = alerts(spec).map((r) => r.alert);
    expect(names).not.toContain('StreamWorkersBacklogGrowing');
    expect(names).toHaveLength(REQUIRED.length - 1);
    const age = alerts(spec).find((r) => r.alert === 'StreamWorkersBacklogAgeHigh')!;
    expect(age.for).toBe('10m');
    expect(age.labels).toEqual({ severity: 'critical', team: 'payments' });
    expect(age.annotations!.runbook_url).toBe('https://runbooks.example.com/stream-workers.md#streamworkersbacklogagehigh');
    // Expressions are untouched.
    const src = alerts(source());
    for (const r of alerts(spec)) expect(r.expr).toBe(src.find((s) => s.alert === r.alert)!.expr);
    const dir = mkdtempSync(join(tmpdir(), 'sw-pr-'));
    try {
      writeFileSync(join(dir, 'rules.yaml'), stringify(spec));
      const r = promtool(['check', 'rules', join(dir, 'rules.yaml')]);
      expect(r.output).toContain(`SUCCESS: ${REQUIRED.length - 1} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the docker-compose Prometheus loads the same source file', () => {
    const compose = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain('./charts/stream-workers/files/alerts.yaml:/etc/prometheus/rules/stream-workers.yaml:ro');
    const prom = parse(readFileSync(join(REPO_ROOT, 'docker', 'prometheus', 'prometheus.yml'), 'utf8')) as { rule_files: string[] };
    expect(prom.rule_files).toContain('/etc/prometheus/rules/stream-workers.yaml');
  });
});
