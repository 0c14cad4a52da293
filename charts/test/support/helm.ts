/**
 * Runs the real helm binary (installed into .tools/bin by scripts/install-tools.sh) and parses what
 * it renders. No cluster is involved: `helm lint` and `helm template` only.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = join(__dirname, '..', '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'charts', 'stream-workers');
export const CI_DIR = join(CHART_DIR, 'ci');
export const HELM = join(REPO_ROOT, '.tools', 'bin', 'helm');

/** A rendered Kubernetes object (kept loose: the validators below check its shape). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export function assertHelm(): void {
  if (!existsSync(HELM)) throw new Error(`${HELM} is missing: run \`bash scripts/install-tools.sh\` (or \`make tools\`) first`);
}

/** Every ci/*-values.yaml file name, sorted. */
export function ciValuesFiles(): string[] {
  return readdirSync(CI_DIR).filter((f) => f.endsWith('-values.yaml')).sort();
}

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** helm's environment: its cache, config and data under .tools/, never the user's. */
function helmEnv(): NodeJS.ProcessEnv {
  return { ...process.env, HELM_CACHE_HOME: join(REPO_ROOT, '.tools', 'helm-cache'), HELM_CONFIG_HOME: join(REPO_ROOT, '.tools', 'helm-config'), HELM_DATA_HOME: join(REPO_ROOT, '.tools', 'helm-data') };
}

/** Runs helm with the given arguments (never throws; the caller asserts on status). */
export function helm(args: string[]): HelmResult {
  assertHelm();
  const r = spawnSync(HELM, args, { cwd: REPO_ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: helmEnv() });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs helm without blocking the event loop: for helm talking to a server in this same process
 * (support/fake-apiserver.ts), which spawnSync would starve. Never rejects on helm's exit status.
 */
export function helmAsync(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<HelmResult> {
  assertHelm();
  return new Promise((resolve, reject) => {
    const child = spawn(HELM, args, { cwd: REPO_ROOT, env: { ...helmEnv(), ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

export interface RenderOptions {
  /** Values files (absolute, or relative to the repository root). */
  valuesFiles?: string[];
  /** `--set` expressions. */
  set?: string[];
  release?: string;
  namespace?: string;
  /** Extra helm arguments (e.g. `--show-only`). */
  extraArgs?: string[];
}

/** `helm template` argument list for the options (also used by scripts/render-manifests.sh's test). */
export function templateArgs(o: RenderOptions = {}): string[] {
  const args = ['template', o.release ?? 'sw', CHART_DIR, '--namespace', o.namespace ?? 'stream-workers'];
  for (const f of o.valuesFiles ?? []) args.push('--values', f);
  for (const s of o.set ?? []) args.push('--set', s);
  return [...args, ...(o.extraArgs ?? [])];
}

/** Renders the chart; throws with helm's message when it fails. */
export function render(o: RenderOptions = {}): K8sObject[] {
  const r = helm(templateArgs(o));
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}): ${r.stderr}`);
  return parseObjects(r.stdout);
}

/** Parses a multi-document YAML stream into objects, dropping empty documents. */
export function parseObjects(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors.map((e) => e.message).join('; ')}`);
    const obj = doc.toJS() as K8sObject | null;
    if (obj) out.push(obj);
  }
  return out;
}

export function find(objs: K8sObject[], kind: string, nameSuffix?: string): K8sObject[] {
  return objs.filter((o) => o.kind === kind && (nameSuffix === undefined || o.metadata.name.endsWith(nameSuffix)));
}

export function one(objs: K8sObject[], kind: string, nameSuffix?: string): K8sObject {
  const found = find(objs, kind, nameSuffix);
  if (found.length !== 1) throw new Error(`expected one ${kind}${nameSuffix ? ` *${nameSuffix}` : ''}, found ${found.length}`);
  return found[0]!;
}

/** A whole-file helm version line, for test names and reports. */
export function helmVersion(): string {
  return execFileSync(HELM, ['version', '--short'], { encoding: 'utf8' }).trim();
}
