import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Logger } from '@stream-workers/core';
import { bearerToken, streamMatcher, Unauthorized, type Authenticator, type Principal } from './types';

/** Options of {@link JwtAuthenticator} (`AUTH_MODE=jwt`). */
export interface JwtOptions {
  /** A JWKS document on disk (`JWT_JWKS_FILE`), read again when it changes; or */
  jwksFile?: string;
  /** a JWKS URL (`JWT_JWKS_URL`), fetched and cached by jose (refetched for an unknown `kid`). */
  jwksUrl?: string;
  /** Required `iss` (`JWT_ISSUER`): for Kubernetes service-account tokens, the cluster's issuer. */
  issuer: string;
  /** Required `aud` (`JWT_AUDIENCE`), e.g. `stream-workers` for a projected service-account token. */
  audience: string;
  /** Claim holding the streams (names or globs; an array or a comma-separated string); default `streams`. */
  streamsClaim?: string;
  /** Streams of a valid token without that claim (`JWT_DEFAULT_STREAMS`): service-account tokens carry none. */
  defaultStreams?: readonly string[];
  logger: Logger;
  pollMs?: number;
}

/**
 * `AUTH_MODE=jwt`: a bearer JWT verified with jose against the JWKS (signature, `exp`/`nbf`, `iss`,
 * `aud`); the client is its `sub`, its streams the `streamsClaim` claim (else `defaultStreams`).
 */
export class JwtAuthenticator implements Authenticator {
  readonly mode = 'jwt' as const;
  private keys: JWTVerifyGetKey;
  private readonly streamsClaim: string;
  private readonly onChange: () => void = () => this.reloadFile();

  constructor(private readonly opts: JwtOptions) {
    this.streamsClaim = opts.streamsClaim ?? 'streams';
    if (opts.jwksFile !== undefined) {
      this.keys = createLocalJWKSet(readJwks(opts.jwksFile));
      watchFile(opts.jwksFile, { interval: opts.pollMs ?? 1000, persistent: false }, this.onChange);
    } else if (opts.jwksUrl !== undefined) {
      this.keys = createRemoteJWKSet(new URL(opts.jwksUrl));
    } else {
      throw new RangeError('AUTH_MODE=jwt needs JWT_JWKS_FILE or JWT_JWKS_URL');
    }
  }

  async authenticate(headers: IncomingHttpHeaders): Promise<Principal> {
    const token = bearerToken(headers);
    if (token === undefined) throw new Unauthorized('send a JWT as "Authorization: Bearer <token>"');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.keys, { issuer: this.opts.issuer, audience: this.opts.audience, requiredClaims: ['sub', 'exp'] }));
    } catch (err) {
      throw new Unauthorized(`the JWT is not valid: ${reasonOf(err)}`, 'invalid_token');
    }
    const raw = payload[this.streamsClaim];
    const streams = Array.isArray(raw) ? raw.filter((s): s is string => typeof s === 'string') : typeof raw === 'string' ? raw.split(',') : (this.opts.defaultStreams ?? []);
    return { client: payload.sub!, mayWrite: streamMatcher(streams.map((s) => s.trim()).filter((s) => s !== '')) };
  }

  private reloadFile(): void {
    try {
      this.keys = createLocalJWKSet(readJwks(this.opts.jwksFile!));
      this.opts.logger.info({ file: this.opts.jwksFile }, 'JWKS reloaded');
    } catch (err) {
      this.opts.logger.warn({ file: this.opts.jwksFile, reason: (err as Error).message }, 'JWKS file rejected; keeping the previous keys');
    }
  }

  close(): void {
    if (this.opts.jwksFile !== undefined) unwatchFile(this.opts.jwksFile, this.onChange);
  }
}

function readJwks(file: string): JSONWebKeySet {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { keys?: unknown };
  if (!Array.isArray(doc.keys)) throw new Error(`${file} is not a JWKS document (no "keys" array)`);
  return doc as JSONWebKeySet;
}

/** Why jose refused a token, in words that never repeat the token. */
function reasonOf(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'it has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason === 'check_failed' ? 'does not match' : err.reason.replace(/_/g, ' ')}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the JWKS matches it';
  if (err instanceof joseErrors.JOSEError) return err.code;
  return 'it is malformed';
}
