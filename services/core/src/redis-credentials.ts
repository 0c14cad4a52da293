/**
 * The parts of {@link RedisSettings} read at connect time, for ioredis (redis.ts) and the project's
 * own connection (resp-client.ts) alike: the password (`REDIS_PASSWORD_FILE` is read again at every
 * connect, so a rotated Secret is used by the next reconnect, no restart) and the TLS options (the
 * CA, certificate and key files, read again at every connect too). A file that cannot be read at
 * connect time keeps the last good value (the start-up check already proved it readable once) and
 * reports the failure once through `onError`.
 *
 * Also the check of settings passed in code (`createWorker({ redis })`): {@link checkRedisSettings}.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { kindOf } from './option-check';
import type { RedisNode, RedisSettings } from './redis-settings';

/** Reads the password and the TLS files of one set of settings, at each connect. */
export class RedisCredentials {
  private lastPassword: string | undefined;
  private lastTls: ConnectionOptions | undefined;
  private failing = new Set<string>();

  /**
   * @param settings The settings whose password (file) and TLS files are read.
   * @param onError Called once per file that stops being readable (again after it was read once more).
   */
  constructor(
    /** The settings whose password (file) and TLS files are read. */
    readonly settings: RedisSettings,
    private readonly onError: (file: string, err: Error) => void = () => undefined,
  ) {
    this.lastPassword = settings.password;
  }

  /** The password now: the file's content (one trailing newline dropped), else the fixed password. */
  password(): string | undefined {
    const file = this.settings.passwordFile;
    if (file === undefined) return this.settings.password;
    const read = this.read(file);
    if (read !== undefined) this.lastPassword = read.replace(/\r?\n$/, '');
    return this.lastPassword;
  }

  /** The ACL user, if any. */
  get username(): string | undefined {
    return this.settings.username;
  }

  /** Node's TLS options now (CA, certificate, key, servername), or undefined without TLS. */
  tls(): ConnectionOptions | undefined {
    const t = this.settings.tls;
    if (!t) return undefined;
    const ca = t.caFile !== undefined ? this.read(t.caFile) : undefined;
    const cert = t.certFile !== undefined ? this.read(t.certFile) : undefined;
    const key = t.keyFile !== undefined ? this.read(t.keyFile) : undefined;
    if ((t.caFile !== undefined && ca === undefined) || (t.certFile !== undefined && cert === undefined) || (t.keyFile !== undefined && key === undefined)) {
      return this.lastTls ?? {};
    }
    this.lastTls = {
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      ...(t.servername !== undefined ? { servername: t.servername } : {}),
    };
    return this.lastTls;
  }

  private read(file: string): string | undefined {
    try {
      const text = readFileSync(file, 'utf8');
      this.failing.delete(file);
      return text;
    } catch (err) {
      if (!this.failing.has(file)) {
        this.failing.add(file);
        this.onError(file, err as Error);
      }
      return undefined;
    }
  }
}

function fail(where: string, option: string, what: string, value: unknown): never {
  const shown = typeof value === 'string' || typeof value === 'number' ? JSON.stringify(value) : kindOf(value);
  throw new RangeError(`${where}: option ${option}=${shown} is invalid: expected ${what}`);
}

function checkNodes(where: string, option: string, nodes: unknown): RedisNode[] {
  if (!Array.isArray(nodes) || nodes.length === 0) fail(where, option, 'a non-empty array of { host, port }', nodes);
  return nodes.map((n: unknown, i) => {
    const node = n as Partial<RedisNode> | null;
    if (typeof node !== 'object' || node === null || typeof node.host !== 'string' || node.host.trim() === '') fail(where, `${option}[${i}].host`, 'a host name or address', node?.host);
    if (typeof node.port !== 'number' || !Number.isInteger(node.port) || node.port < 1 || node.port > 65535) fail(where, `${option}[${i}].port`, 'an integer from 1 to 65535', node.port);
    return { host: node.host, port: node.port };
  });
}

const optionalString = (where: string, option: string, v: unknown): void => {
  if (v !== undefined && (typeof v !== 'string' || v === '')) fail(where, option, 'a non-empty string or undefined', v);
};

/**
 * Checks settings passed in code (the shape {@link RedisSettings} describes) and returns them. Throws a
 * `TypeError` when they are not an object, a `RangeError` naming the field (`redis.topology.nodes[1].port`)
 * otherwise; the same combinations the variables refuse are refused (a password and a password file, a
 * certificate without its key, a db index outside one server).
 */
export function checkRedisSettings(where: string, option: string, value: unknown): RedisSettings {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`${where}: option ${option} must be Redis settings { topology, … }, got ${kindOf(value)}`);
  const s = value as Partial<RedisSettings> & { topology?: Record<string, unknown> };
  const t = s.topology;
  if (typeof t !== 'object' || t === null) fail(where, `${option}.topology`, "{ kind: 'single' | 'sentinel' | 'cluster', … }", t);
  if (t.kind === 'single') {
    if (typeof t.host !== 'string' || t.host === '') fail(where, `${option}.topology.host`, 'a host name or address', t.host);
    if (typeof t.port !== 'number' || !Number.isInteger(t.port) || t.port < 1 || t.port > 65535) fail(where, `${option}.topology.port`, 'an integer from 1 to 65535', t.port);
    if (typeof t.db !== 'number' || !Number.isInteger(t.db) || t.db < 0) fail(where, `${option}.topology.db`, 'an integer ≥ 0', t.db);
  } else if (t.kind === 'sentinel') {
    checkNodes(where, `${option}.topology.sentinels`, t.sentinels);
    if (typeof t.masterName !== 'string' || t.masterName === '') fail(where, `${option}.topology.masterName`, 'the master name the sentinels monitor', t.masterName);
    optionalString(where, `${option}.topology.sentinelUsername`, t.sentinelUsername);
    optionalString(where, `${option}.topology.sentinelPassword`, t.sentinelPassword);
    if ('db' in t && t.db !== 0 && t.db !== undefined) fail(where, `${option}.topology.db`, 'no db index (Sentinel connections use db 0)', t.db);
  } else if (t.kind === 'cluster') {
    checkNodes(where, `${option}.topology.nodes`, t.nodes);
    if ('db' in t && t.db !== 0 && t.db !== undefined) fail(where, `${option}.topology.db`, 'no db index (a cluster has only db 0)', t.db);
  } else {
    fail(where, `${option}.topology.kind`, "'single', 'sentinel' or 'cluster'", (t as { kind?: unknown }).kind);
  }
  optionalString(where, `${option}.username`, s.username);
  optionalString(where, `${option}.passwordFile`, s.passwordFile);
  if (s.password !== undefined && typeof s.password !== 'string') fail(where, `${option}.password`, 'a string or undefined', s.password);
  if (s.password !== undefined && s.passwordFile !== undefined) fail(where, `${option}.password`, 'undefined when passwordFile is set (one of them)', '***');
  if (s.tls !== undefined) {
    if (typeof s.tls !== 'object' || s.tls === null) fail(where, `${option}.tls`, '{ caFile?, certFile?, keyFile?, servername? } or undefined', s.tls);
    for (const k of ['caFile', 'certFile', 'keyFile', 'servername'] as const) optionalString(where, `${option}.tls.${k}`, s.tls[k]);
    if ((s.tls.certFile === undefined) !== (s.tls.keyFile === undefined)) fail(where, `${option}.tls.${s.tls.certFile === undefined ? 'certFile' : 'keyFile'}`, 'set together with the other (a certificate needs its key)', undefined);
  }
  return value as RedisSettings;
}
