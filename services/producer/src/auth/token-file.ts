import { createHash } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '@stream-workers/core';
import { bearerToken, streamMatcher, Unauthorized, type Authenticator, type Principal } from './types';

/** One client of `API_TOKENS_FILE`. */
interface TokenClient {
  name: string;
  mayWrite: (stream: string) => boolean;
}

/** A line of the token file that cannot be used; start-up stops on it, a reload keeps the previous file. */
export class TokenFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'TokenFileError';
  }
}

const NAME = /^[A-Za-z0-9_.:@-]{1,128}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const STREAM_PATTERN = /^[A-Za-z0-9_.:{}*?-]{1,200}$/;

/**
 * Parses the token file: one client per line, `<name> <sha256 hex of its token> <streams>` separated
 * by whitespace, `<streams>` a comma-separated list of stream names or globs; `#` starts a comment.
 * Returns clients by token hash. Throws {@link TokenFileError} naming the first bad line.
 */
export function parseTokenFile(text: string, file: string): Map<string, TokenClient> {
  const byHash = new Map<string, TokenClient>();
  const names = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const cols = line.split(/\s+/);
    const fail = (reason: string) => {
      throw new TokenFileError(file, i + 1, reason);
    };
    if (cols.length !== 3) fail(`expected 3 columns (name, sha256 of the token, streams), found ${cols.length}`);
    const [name, hash, streams] = cols as [string, string, string];
    if (!NAME.test(name)) fail(`client name ${JSON.stringify(name)} must be 1 to 128 of A-Z a-z 0-9 _ . : @ -`);
    if (names.has(name)) fail(`client ${name} is listed twice`);
    if (!SHA256.test(hash.toLowerCase())) fail(`client ${name}: the token hash must be 64 hex digits (sha256), not the token itself`);
    if (byHash.has(hash.toLowerCase())) fail(`client ${name}: the same token hash as client ${byHash.get(hash.toLowerCase())!.name}`);
    const patterns = streams.split(',');
    const bad = patterns.find((p) => !STREAM_PATTERN.test(p));
    if (bad !== undefined) fail(`client ${name}: ${JSON.stringify(bad)} is not a stream name or glob`);
    names.add(name);
    byHash.set(hash.toLowerCase(), { name, mayWrite: streamMatcher(patterns) });
  });
  return byHash;
}

/** `AUTH_MODE=token`: bearer tokens checked against the SHA-256 hashes of `API_TOKENS_FILE`, reloaded on change. */
export class TokenFileAuthenticator implements Authenticator {
  readonly mode = 'token' as const;
  private clients: Map<string, TokenClient>;
  private lastText: string;
  private readonly onChange: (cur: Stats, prev: Stats) => void;

  /** Reads the file now (throws {@link TokenFileError} or the read error), then polls it every `pollMs`. */
  constructor(
    private readonly file: string,
    private readonly logger: Logger,
    pollMs = 1000,
  ) {
    this.lastText = readFileSync(file, 'utf8');
    this.clients = parseTokenFile(this.lastText, file);
    this.onChange = () => this.reload();
    // Polling follows the path through symlinks, as Kubernetes swaps a mounted Secret's `..data` link.
    watchFile(file, { interval: pollMs, persistent: false }, this.onChange);
    logger.info({ file, clients: this.clients.size }, 'API tokens loaded');
  }

  /** Reads the file again; a bad file keeps the previous clients and logs why. Returns true when applied. */
  reload(): boolean {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      this.logger.warn({ file: this.file, reason: (err as Error).message }, 'API tokens file unreadable; keeping the previous tokens');
      return false;
    }
    if (text === this.lastText) return false;
    try {
      this.clients = parseTokenFile(text, this.file);
    } catch (err) {
      this.logger.warn({ file: this.file, reason: (err as Error).message }, 'API tokens file rejected; keeping the previous tokens');
      this.lastText = text;
      return false;
    }
    this.lastText = text;
    this.logger.info({ file: this.file, clients: this.clients.size }, 'API tokens reloaded');
    return true;
  }

  authenticate(headers: IncomingHttpHeaders): Principal {
    const token = bearerToken(headers);
    if (token === undefined) throw new Unauthorized('send an API token as "Authorization: Bearer <token>"');
    const client = this.clients.get(createHash('sha256').update(token).digest('hex'));
    if (!client) throw new Unauthorized('the API token is not valid', 'invalid_token');
    return { client: client.name, mayWrite: client.mayWrite };
  }

  close(): void {
    unwatchFile(this.file, this.onChange);
  }
}
