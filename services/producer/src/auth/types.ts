import type { IncomingHttpHeaders } from 'node:http';

/** Who sent a request and which streams it may write, as established by an {@link Authenticator}. */
export interface Principal {
  /** The client's name: the token file's first column, the JWT `sub`, or `anonymous` (AUTH_MODE=none). */
  client: string;
  /** True when the client may append to `stream`. */
  mayWrite(stream: string): boolean;
}

/** Missing or invalid credentials: answered 401 with `WWW-Authenticate`. The message never holds a credential. */
export class Unauthorized extends Error {
  constructor(
    message: string,
    /** RFC 6750 error code for `WWW-Authenticate` (`invalid_token`), absent when no credential was sent. */
    readonly code?: 'invalid_token' | 'invalid_request',
  ) {
    super(message);
    this.name = 'Unauthorized';
  }
}

/** Establishes the {@link Principal} of a request; throws {@link Unauthorized}. */
export interface Authenticator {
  readonly mode: 'none' | 'token' | 'jwt';
  authenticate(headers: IncomingHttpHeaders, remoteAddress: string | undefined): Promise<Principal> | Principal;
  /** Stops watching files / fetching keys. */
  close(): void;
}

/** The bearer token of `Authorization: Bearer <token>`; undefined when absent; Unauthorized when malformed. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const h = headers.authorization;
  if (h === undefined || h === '') return undefined;
  const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(h);
  if (!m) throw new Unauthorized('the Authorization header is not "Bearer <token>"', 'invalid_request');
  return m[1]!;
}

/**
 * Stream names and globs (`*` any run of characters, `?` one) as a matcher. Stream names cannot hold
 * `*` or `?` (STREAMS rule), so they need no escape here.
 */
export function streamMatcher(patterns: readonly string[]): (stream: string) => boolean {
  const exact = new Set<string>();
  const globs: RegExp[] = [];
  for (const p of patterns) {
    if (/[*?]/.test(p)) globs.push(new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's'));
    else exact.add(p);
  }
  return (stream) => exact.has(stream) || globs.some((g) => g.test(stream));
}
