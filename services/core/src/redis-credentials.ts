import { readFileSync } from 'node:fs';
import { ConfigError, type Env } from './config';

/**
 * Credentials kept out of REDIS_URL: REDIS_USERNAME, and REDIS_PASSWORD or REDIS_PASSWORD_FILE (a
 * mounted Secret file; wins over REDIS_PASSWORD). Applied to the parsed URL in memory, so no password
 * ever sits in a pod spec's REDIS_URL; logs show it redacted (`redactUrl`). A URL that carries its
 * own credentials keeps them unless these variables are set.
 */
export function withRedisCredentials(url: string, env: Env): string {
  const username = env.REDIS_USERNAME?.trim();
  const file = env.REDIS_PASSWORD_FILE?.trim();
  let password = env.REDIS_PASSWORD;
  if (file) {
    try {
      password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new ConfigError('REDIS_PASSWORD_FILE', file, `a readable file holding the password (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (password === '') throw new ConfigError('REDIS_PASSWORD_FILE', file, 'a file holding a non-empty password');
  }
  if (!username && !password) return url;
  const u = new URL(url);
  if (username) u.username = encodeURIComponent(username);
  if (password) u.password = encodeURIComponent(password);
  return u.toString();
}
