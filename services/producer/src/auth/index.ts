import type { IncomingHttpHeaders } from 'node:http';
import { ConfigError, ConfigErrors, type Logger } from '@stream-workers/core';
import { JwtAuthenticator } from './jwt';
import { TokenFileAuthenticator, TokenFileError } from './token-file';
import type { Authenticator, Principal } from './types';

export * from './types';
export { JwtAuthenticator, type JwtOptions } from './jwt';
export { TokenFileAuthenticator, TokenFileError, parseTokenFile } from './token-file';
export { RateLimiter } from './rate-limit';

/** `AUTH_MODE=none`: every request is the client `anonymous` (rate-limited per remote address), any stream. */
export class NoAuthenticator implements Authenticator {
  readonly mode = 'none' as const;
  authenticate(_headers: IncomingHttpHeaders, remoteAddress: string | undefined): Principal {
    return { client: `anonymous@${remoteAddress ?? 'unknown'}`, mayWrite: () => true };
  }
  close(): void {}
}

/** The authentication settings of the producer's config (AUTH_MODE and what each mode needs). */
export interface AuthSettings {
  authMode: 'none' | 'token' | 'jwt';
  apiTokensFile?: string | undefined;
  jwtJwksFile?: string | undefined;
  jwtJwksUrl?: string | undefined;
  jwtIssuer?: string | undefined;
  jwtAudience?: string | undefined;
  jwtStreamsClaim?: string | undefined;
  jwtDefaultStreams?: string[] | undefined;
}

/** Builds the authenticator of `s.authMode`; throws (stopping start-up) when its file is missing or malformed. */
export function createAuthenticator(s: AuthSettings, logger: Logger): Authenticator {
  switch (s.authMode) {
    case 'none':
      logger.warn('AUTH_MODE=none: the producer API accepts events from anyone who can reach it');
      return new NoAuthenticator();
    case 'token':
      if (!s.apiTokensFile) throw new ConfigErrors([new ConfigError('API_TOKENS_FILE', undefined, 'a file path when AUTH_MODE=token')]);
      try {
        return new TokenFileAuthenticator(s.apiTokensFile, logger);
      } catch (err) {
        const why = err instanceof TokenFileError ? err.message : `cannot be read: ${(err as Error).message}`;
        throw new ConfigErrors([new ConfigError('API_TOKENS_FILE', s.apiTokensFile, `a token file whose every line is "<name> <sha256 hex> <streams>" (${why})`)]);
      }
    case 'jwt':
    {
      const missing: ConfigError[] = [];
      if (!s.jwtJwksFile && !s.jwtJwksUrl) missing.push(new ConfigError('JWT_JWKS_FILE', undefined, 'a JWKS file (or JWT_JWKS_URL) when AUTH_MODE=jwt'));
      if (!s.jwtIssuer) missing.push(new ConfigError('JWT_ISSUER', undefined, 'the issuer when AUTH_MODE=jwt'));
      if (!s.jwtAudience) missing.push(new ConfigError('JWT_AUDIENCE', undefined, 'the audience when AUTH_MODE=jwt'));
      if (missing.length > 0) throw new ConfigErrors(missing);
    }
      return new JwtAuthenticator({
        ...(s.jwtJwksFile ? { jwksFile: s.jwtJwksFile } : {}),
        ...(s.jwtJwksUrl ? { jwksUrl: s.jwtJwksUrl } : {}),
        issuer: s.jwtIssuer!,
        audience: s.jwtAudience!,
        ...(s.jwtStreamsClaim ? { streamsClaim: s.jwtStreamsClaim } : {}),
        defaultStreams: s.jwtDefaultStreams ?? [],
        logger,
      });
  }
}
