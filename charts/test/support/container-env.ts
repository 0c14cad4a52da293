/**
 * A rendered container's environment as the kubelet would hand it to the process: `valueFrom` filled
 * with stand-ins, `$(VAR)` expanded, and every variable that names a file in a mounted Secret pointed
 * at a real file with stand-in content (a password, or PEM files made by openssl: a private CA and a
 * client certificate it signed), so a service's configuration parser can read and check them.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** One EnvVar of a container spec. */
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}

/** The parts of a pod spec this module reads. */
export interface PodFiles {
  volumes?: Array<{ name: string; secret?: { secretName: string; items?: Array<{ key: string; path: string }> } }>;
  containers: Array<{ env?: EnvVar[]; volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }> }>;
}

/** Stand-in Secret contents, written once per process into a temporary directory. */
export class StandInFiles {
  readonly dir = mkdtempSync(join(tmpdir(), 'sw-chart-env-'));
  private pem: Record<'ca.crt' | 'tls.crt' | 'tls.key', string> | undefined;

  /** A private CA and a client certificate it signed (openssl, as a user would make them). */
  private pems(): Record<'ca.crt' | 'tls.crt' | 'tls.key', string> {
    if (!this.pem) {
      const d = join(this.dir, 'pki');
      mkdirSync(d);
      const ssl = (args: string[]): void => void execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
      ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=stream-workers test CA']);
      ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'tls.key', '-out', 'tls.csr', '-subj', '/CN=stream-workers']);
      ssl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'tls.crt', '-days', '2']);
      this.pem = { 'ca.crt': readFileSync(join(d, 'ca.crt'), 'utf8'), 'tls.crt': readFileSync(join(d, 'tls.crt'), 'utf8'), 'tls.key': readFileSync(join(d, 'tls.key'), 'utf8') };
    }
    return this.pem;
  }

  /** The content a Secret item would have: PEM for the TLS file names the chart uses, else a password. */
  contentFor(path: string): string {
    return path === 'ca.crt' || path === 'tls.crt' || path === 'tls.key' ? this.pems()[path] : 's3cret\n';
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The environment of container `index` of `pod`. Secret volumes it mounts are written under
 * `files.dir` (one directory per mount) and variables naming a path under a mount are rewritten to it.
 */
export function containerEnv(pod: PodFiles, files: StandInFiles, index = 0): Record<string, string> {
  const c = pod.containers[index]!;
  const moved = new Map<string, string>(); // mountPath -> local directory
  for (const m of c.volumeMounts ?? []) {
    const secret = pod.volumes?.find((v) => v.name === m.name)?.secret;
    if (!secret) continue;
    const local = mkdtempSync(join(files.dir, `${m.name}-`));
    for (const item of secret.items ?? []) {
      mkdirSync(dirname(join(local, item.path)), { recursive: true });
      writeFileSync(join(local, item.path), files.contentFor(item.path));
    }
    moved.set(m.mountPath, local);
  }
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    let v = e.value;
    if (v === undefined) {
      const f = e.valueFrom?.fieldRef?.fieldPath;
      const s = e.valueFrom?.secretKeyRef;
      v = f === 'metadata.name' ? 'pod-0' : f === 'metadata.namespace' ? 'stream-workers' : s && e.name === 'REDIS_URL' ? 'redis://managed-redis:6379' : s ? 's3cret' : '';
    }
    for (const [mountPath, local] of moved) if (v.startsWith(`${mountPath}/`)) v = local + v.slice(mountPath.length);
    env[e.name] = v.replace(/\$\(([A-Z_]+)\)/g, (m, n: string) => env[n] ?? m);
  }
  return env;
}
