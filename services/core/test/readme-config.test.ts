/**
 * The README's configuration tables are generated from the services' option definitions; this test
 * fails when they drift. `make docs` (UPDATE_DOCS=1) rewrites them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configTable, type ConfigDefinition, type ConfigSpec } from '../src/config';
import { workerConfig } from '../../worker/src/config';
import { producerConfig } from '../../producer/src/config';
import { lagExporterConfig } from '../../lag-exporter/src/config';
import { autoscalerConfig } from '../../autoscaler/src/config';

const README = join(__dirname, '..', '..', '..', 'README.md');
const sections: Array<[string, ConfigDefinition<ConfigSpec>]> = [
  ['worker', workerConfig as unknown as ConfigDefinition<ConfigSpec>],
  ['producer', producerConfig as unknown as ConfigDefinition<ConfigSpec>],
  ['lag-exporter', lagExporterConfig as unknown as ConfigDefinition<ConfigSpec>],
  ['autoscaler', autoscalerConfig as unknown as ConfigDefinition<ConfigSpec>],
];

function render(readme: string): string {
  let out = readme;
  for (const [name, def] of sections) {
    const start = `<!-- config:${name}:start -->`;
    const end = `<!-- config:${name}:end -->`;
    const a = out.indexOf(start);
    const b = out.indexOf(end);
    if (a < 0 || b < a) throw new Error(`README.md has no ${start} … ${end} section`);
    const body = `\n### ${name}\n\n${configTable(def)}\n`;
    out = out.slice(0, a + start.length) + body + out.slice(b);
  }
  return out;
}

test('README configuration tables match the services\' option definitions', () => {
  const readme = readFileSync(README, 'utf8');
  const expected = render(readme);
  if (process.env.UPDATE_DOCS === '1') writeFileSync(README, expected);
  else expect(readme).toBe(expected);
});

test('every variable named in docs/design.md\'s runtime contract is defined by its service', () => {
  const names = (def: ConfigDefinition<ConfigSpec>) => Object.values(def.specs).map((s) => s.name);
  expect(names(sections[0]![1])).toEqual(expect.arrayContaining(['REDIS_URL', 'PORT', 'LOG_LEVEL', 'STREAM', 'GROUP', 'CONSUMER', 'GROUP_START_ID', 'BATCH_SIZE', 'CONCURRENCY', 'BLOCK_MS', 'MAX_DELIVERIES', 'CLAIM_IDLE_MS', 'DEAD_LETTER_STREAM', 'SHUTDOWN_GRACE_MS', 'HANDLER', 'SIM_WORK_MS', 'SIM_FAIL_RATE', 'SIM_POISON_TYPE']));
  expect(names(sections[1]![1])).toEqual(expect.arrayContaining(['STREAMS', 'MAX_EVENT_BYTES', 'MAXLEN', 'IDEMPOTENCY_TTL_S']));
  expect(names(sections[2]![1])).toEqual(expect.arrayContaining(['STREAMS', 'GROUPS', 'SCRAPE_TIMEOUT_MS']));
  expect(names(sections[3]![1])).toEqual(expect.arrayContaining(['STREAM', 'GROUP', 'TARGET_KIND', 'TARGET_NAME', 'NAMESPACE', 'TARGET_PER_REPLICA', 'ACTIVATION', 'MIN_REPLICAS', 'MAX_REPLICAS', 'POLL_INTERVAL_MS', 'COOLDOWN_S', 'SCALE_DOWN_WINDOW_S', 'POD_SELECTOR']));
});

/**
 * The chart passes each service its variables (templates/*.yaml: `- name: VAR` / `value: {{ … }}`).
 * Where a variable takes a value from values.yaml, the chart's default must be the definition's
 * default and values.schema.json must allow exactly the definition's range: the definitions are the
 * one place a default or a range is written.
 */
describe('the chart against the definitions', () => {
  const CHART = join(__dirname, '..', '..', '..', 'charts', 'stream-workers');
  const templates: Array<[string, string, ConfigDefinition<ConfigSpec>]> = [
    ['worker.yaml', 'worker', sections[0]![1]],
    ['producer.yaml', 'producer', sections[1]![1]],
    ['lag-exporter.yaml', 'lag-exporter', sections[2]![1]],
    ['autoscaler.yaml', 'autoscaler', sections[3]![1]],
  ];
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- yaml is a dev dependency; required here to keep the imports above unchanged for the README test
  const values = (require('yaml') as typeof import('yaml')).parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as SchemaNode;
  const rows = templates.flatMap(([file, service, def]) => chartEnv(readFileSync(join(CHART, 'templates', file), 'utf8')).map((e) => ({ ...e, service, def })));
  /** Environment the chart sets that no definition declares: read by a derived default, not a variable of its own. */
  const NOT_VARIABLES = new Set(['POD_NAMESPACE']);

  test('the templates were read: every service passes its variables (sanity check of the parser)', () => {
    // The autoscaler's policy (MIN/MAX_REPLICAS, POLL_INTERVAL_MS, …) is per pool, inside its POOLS document: only its
    // own settings (lease, janitor) are variables of their own in the template.
    const least: Record<string, number> = { autoscaler: 2 };
    for (const [, service] of templates) expect(rows.filter((r) => r.service === service && r.path).length).toBeGreaterThanOrEqual(least[service] ?? 4);
  });

  test('every variable the chart sets is declared by its service', () => {
    const undeclared = rows.filter((r) => !NOT_VARIABLES.has(r.name) && !specOf(r.def, r.name)).map((r) => `${r.service}: ${r.name}`);
    expect(undeclared).toEqual([]);
  });

  test("values.yaml's defaults and the chart's fixed values are the definitions' defaults", () => {
    const checked: string[] = [];
    const drift: string[] = [];
    for (const r of rows) {
      const spec = specOf(r.def, r.name);
      if (!spec || spec.defaultValue === undefined || (!r.path && r.literal === undefined) || r.conditional) continue; // computed by the chart (TARGET_NAME) or conditional (GRPC_PORT)
      let chart: unknown = r.literal;
      if (r.path) {
        chart = at(values, r.path);
        // Empty means "the chart derives it" (`<stream>:dlq`, STREAMS from `stream`): no default of its own.
        if (chart === '' || chart === null || (Array.isArray(chart) && chart.length === 0)) continue;
        if (typeof chart === 'number') chart *= r.factor;
      }
      const want = spec.defaultValue;
      const same = Array.isArray(want) ? [chart].flat().join(',') === want.join(',') : String(chart) === String(want);
      checked.push(r.name);
      if (!same) drift.push(`${r.service} ${r.name}: chart ${r.path ? r.path.join('.') : 'literal'} = ${JSON.stringify(chart)}, definition = ${JSON.stringify(want)}`);
    }
    expect(drift).toEqual([]);
    expect(checked).toEqual(expect.arrayContaining(['BATCH_SIZE', 'CLAIM_IDLE_MS', 'MAX_EVENT_BYTES', 'SCRAPE_TIMEOUT_MS', 'LEASE_DURATION_S']));
  });

  /** Where the chart's schema is deliberately narrower than the variable, and why. */
  const NARROWER_MINIMUM: Record<string, { minimum: number; why: string }> = {
    GRPC_PORT: { minimum: 1, why: 'the chart turns the external scaler off with autoscaling.mode (GRPC_PORT 0), so its port value must be a real port' },
  };

  test("values.schema.json allows exactly the definitions' ranges", () => {
    const drift: string[] = [];
    for (const r of rows) {
      const spec = specOf(r.def, r.name);
      if (!spec || !r.path) continue;
      const node = schemaAt(schema, r.path);
      if (!node) {
        drift.push(`${r.service} ${r.name}: no schema for ${r.path.join('.')}`);
        continue;
      }
      const range = numericRange(node);
      const where = `${r.service} ${r.name} (${r.path.join('.')})`;
      // In the chart's unit: POLL_INTERVAL_MS from pollingIntervalSeconds (× 1000) allows whole seconds.
      const minimum = NARROWER_MINIMUM[r.name]?.minimum ?? (spec.min === undefined ? undefined : Math.ceil(spec.min / r.factor));
      if (minimum !== undefined && range.minimum !== minimum) drift.push(`${where}: minimum ${range.minimum}, definition ${spec.min}`);
      if (spec.max !== undefined && range.maximum !== Math.floor(spec.max / r.factor)) drift.push(`${where}: maximum ${range.maximum}, definition ${spec.max}`);
      if (spec.max === undefined && range.maximum !== undefined) drift.push(`${where}: maximum ${range.maximum}, the definition has none`);
    }
    expect(drift).toEqual([]);
  });
});

interface EnvRow {
  name: string;
  /** The values.yaml path the value comes from (the last one in the expression), or undefined for a fixed value. */
  path: string[] | undefined;
  /** `mul <path> N`: the variable is the chart value × N. */
  factor: number;
  /** `ternary <path> <other> <condition>`: the value applies only under a condition (no default of its own). */
  conditional: boolean;
  literal: string | undefined;
}

/** The `- name: VAR` / `value: …` pairs of a template, with the values path behind each. */
function chartEnv(template: string): EnvRow[] {
  const aliases = new Map<string, string[]>();
  const resolve = (ref: string): string[] => {
    const [head, ...rest] = ref.split('.');
    if (head === '') return rest.slice(1); // .Values.x.y
    return [...(aliases.get(head!) ?? [`?${head}`]), ...rest];
  };
  const rows: EnvRow[] = [];
  let withPath: string[] | undefined;
  const lines = template.split('\n');
  lines.forEach((line, i) => {
    const alias = /\{\{-?\s*\$(\w+) := (\.Values(?:\.\w+)*|\$\w+(?:\.\w+)*)\s*-?\}\}/.exec(line);
    if (alias) aliases.set(`$${alias[1]}`, resolve(alias[2]!));
    // `range $w := (include "sw.pools" $ | fromJson).pools`: each pool is `workerDefaults` with the pool's own values over it.
    const pools = /\{\{-?\s*range \$(\w+) := \(include "sw\.pools"/.exec(line);
    if (pools) aliases.set(`$${pools[1]}`, ['workerDefaults']);
    const w = /\{\{-?\s*with (\.Values(?:\.\w+)+|\$\w+(?:\.\w+)+)\s*-?\}\}/.exec(line);
    if (w) withPath = resolve(w[1]!);
    const name = /^\s*- name: ([A-Z][A-Z0-9_]*)\s*$/.exec(line);
    const value = /^\s*value: (.*)$/.exec(lines[i + 1] ?? '');
    if (!name || !value) return;
    const expr = value[1]!;
    if (!expr.startsWith('{{')) {
      rows.push({ name: name[1]!, path: undefined, factor: 1, literal: expr.replace(/^"|"$/g, ''), conditional: false });
      return;
    }
    const refs = [...expr.matchAll(/(\.Values(?:\.\w+)+|\$\w+(?:\.\w+)+)/g)].map((m) => m[1]!);
    const conditional = /\bternary\b/.test(expr);
    // `default <derived> <path>`: the path is the last reference; `ternary <path> …`: the first.
    const ref = conditional ? refs[0] : refs[refs.length - 1];
    const path = ref !== undefined ? resolve(ref) : /\{\{\s*\.\s*\|/.test(expr) ? withPath : undefined;
    const mul = /mul \S+ (\d+)/.exec(expr);
    rows.push({ name: name[1]!, path, factor: mul ? Number(mul[1]) : 1, literal: undefined, conditional });
  });
  return rows.filter((r) => !r.path || !r.path.some((p) => p.startsWith('?')));
}

interface SchemaNode {
  $ref?: string;
  $defs?: Record<string, SchemaNode>;
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  minimum?: number;
  maximum?: number;
}

function specOf(def: ConfigDefinition<ConfigSpec>, name: string) {
  return Object.values(def.specs).find((s) => s.name === name);
}

function at(obj: unknown, path: string[]): unknown {
  return path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

function schemaAt(schema: SchemaNode, path: string[]): SchemaNode | undefined {
  let node: SchemaNode | undefined = schema;
  const deref = (n: SchemaNode | undefined): SchemaNode | undefined => (n?.$ref?.startsWith('#/$defs/') ? schema.$defs?.[n.$ref.slice('#/$defs/'.length)] : n);
  for (const k of path) node = deref(deref(node)?.properties?.[k]);
  return node;
}

/** The numeric bounds of a schema node (of its numeric branch when it allows a string form too). */
function numericRange(node: SchemaNode): { minimum?: number; maximum?: number } {
  const numeric = [node, ...(node.anyOf ?? []), ...(node.oneOf ?? [])].find((n) => n.minimum !== undefined || n.maximum !== undefined);
  return { minimum: numeric?.minimum, maximum: numeric?.maximum };
}
