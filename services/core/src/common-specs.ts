import { readFileSync } from 'node:fs';
import { ConfigError, LOG_LEVELS, int, oneOf, optionalStr, redisUrl, type CheckedVarSpec } from './config';

/** The default stream and consumer group (`STREAM`, `GROUP` of the worker and the autoscaler; the producer's `STREAMS`). */
export const DEFAULT_STREAM = 'events';
export const DEFAULT_GROUP = 'workers';

/** The variables every service reads: `REDIS_URL`, `PORT`, `LOG_LEVEL`. */
export function commonSpecs(defaultPort: number) {
  return {
    redisUrl: withRedisCredentials(redisUrl('REDIS_URL', {
      description: 'Redis connection URL; `rediss://` for TLS, `user:password@` for ACL users (or REDIS_USERNAME / REDIS_PASSWORD)',
      default: 'redis://127.0.0.1:6379',
    })),
    redisUsername: optionalStr('REDIS_USERNAME', { description: 'Redis ACL user; put into REDIS_URL (overrides a user in it)' }),
    redisPassword: optionalStr('REDIS_PASSWORD', { description: 'Password of the Redis user; put into REDIS_URL (overrides a password in it)' }),
    redisPasswordFile: optionalStr('REDIS_PASSWORD_FILE', { description: 'File holding the Redis password (a mounted Secret); read at start-up, wins over REDIS_PASSWORD' }),
    port: int('PORT', { description: 'Port of the HTTP server (API or ops endpoints)', default: defaultPort, min: 0, max: 65535 }),
    logLevel: oneOf('LOG_LEVEL', LOG_LEVELS, { description: 'pino log level', default: 'info' }),
  };
}

/**
 * `REDIS_URL` with `REDIS_USERNAME` and `REDIS_PASSWORD` / `REDIS_PASSWORD_FILE` (one trailing newline
 * dropped) put into it, so every service connects as its own ACL user without a password in its URL.
 */
function withRedisCredentials(base: CheckedVarSpec<string>): CheckedVarSpec<string> {
  return {
    ...base,
    parse(raw, env) {
      const url = base.parse(raw, env);
      const user = env.REDIS_USERNAME?.trim() || undefined;
      const file = env.REDIS_PASSWORD_FILE?.trim() || undefined;
      let password = env.REDIS_PASSWORD || undefined;
      if (file !== undefined) {
        try {
          password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
        } catch (err) {
          throw new ConfigError('REDIS_PASSWORD_FILE', file, `a readable file (${(err as Error).message})`);
        }
      }
      if (user === undefined && password === undefined) return url;
      const u = new URL(url);
      if (user !== undefined) u.username = encodeURIComponent(user);
      if (password !== undefined) u.password = encodeURIComponent(password);
      return u.toString();
    },
  };
}
