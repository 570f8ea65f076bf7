import { randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { DfsError, ErrorCode } from '@dfs/proto';
import { MAX_GROUPS, callerFor, checkName, type Caller, type TokenVerifier } from './caller.js';

/*
 * Bearer tokens for people without certificates: a JWT (HS256) signed with the cluster
 * key, {sub: user, groups, jti, iat, exp}. The key lives in the Raft state (auth_keys,
 * proposed once by a leader), so any master verifies what any other signed. Revoked ids
 * are in the Raft state too (revoked_tokens) until the token would have expired.
 */

export const TOKEN_ISSUER = 'dfs';
export const DEFAULT_TOKEN_TTL_MS = 30 * 24 * 3_600_000;
export const MAX_TOKEN_TTL_MS = 366 * 24 * 3_600_000;

export interface SigningKey {
  id: string;
  secret: string;
}

/** Where the key comes from: today the store's auth_keys table (see master.ts). */
export interface TokenKeySource {
  signingKey(): SigningKey | undefined;
  isRevoked(jti: string): boolean;
}

export function newSigningKey(): SigningKey {
  return { id: randomBytes(6).toString('hex'), secret: randomBytes(32).toString('base64url') };
}

function keyBytes(k: SigningKey): Uint8Array {
  return Buffer.from(k.secret, 'base64url');
}

export class TokenService implements TokenVerifier {
  constructor(private readonly keys: TokenKeySource) {}

  async issue(user: string, groups: string[], ttlMs: number, nowMs: number): Promise<{ token: string; jti: string; expiresMs: number }> {
    checkName('user', user);
    for (const g of groups) checkName('group', g);
    if (groups.length > MAX_GROUPS) throw new DfsError(ErrorCode.INVALID_ARGUMENT, `at most ${MAX_GROUPS} groups`);
    const ttl = ttlMs || DEFAULT_TOKEN_TTL_MS;
    if (ttl < 1000 || ttl > MAX_TOKEN_TTL_MS) throw new DfsError(ErrorCode.INVALID_ARGUMENT, 'token ttl must be between 1s and 366d');
    const key = this.keys.signingKey();
    if (!key) throw new DfsError(ErrorCode.UNAVAILABLE, 'the cluster key is not set up yet; retry');
    const jti = randomBytes(12).toString('base64url');
    const iat = Math.floor(nowMs / 1000);
    const expiresMs = (iat + Math.ceil(ttl / 1000)) * 1000;
    const token = await new SignJWT({ groups })
      .setProtectedHeader({ alg: 'HS256', kid: key.id })
      .setIssuer(TOKEN_ISSUER)
      .setSubject(user)
      .setJti(jti)
      .setIssuedAt(iat)
      .setExpirationTime(expiresMs / 1000)
      .sign(keyBytes(key));
    return { token, jti, expiresMs };
  }

  /** The caller a token names; PERMISSION_DENIED (one line) for anything wrong with it. */
  async verify(token: string): Promise<Caller> {
    const { caller } = await this.inspect(token);
    return caller;
  }

  async inspect(token: string, opts: { allowExpired?: boolean } = {}): Promise<{ caller: Caller; jti: string; expiresMs: number }> {
    const key = this.keys.signingKey();
    if (!key) throw new DfsError(ErrorCode.PERMISSION_DENIED, 'token rejected: this cluster has no token key yet');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, keyBytes(key), {
        issuer: TOKEN_ISSUER,
        algorithms: ['HS256'],
        ...(opts.allowExpired ? { currentDate: new Date(0) } : {}),
      }));
    } catch (err) {
      const why = err instanceof joseErrors.JWTExpired ? 'expired' : err instanceof joseErrors.JWSSignatureVerificationFailed ? 'bad signature' : 'invalid';
      throw new DfsError(ErrorCode.PERMISSION_DENIED, `token rejected: ${why}`);
    }
    const user = payload.sub;
    const groups = payload['groups'];
    const jti = payload.jti;
    if (typeof user !== 'string' || typeof jti !== 'string' || !Array.isArray(groups) || !groups.every((g) => typeof g === 'string') || typeof payload.exp !== 'number') {
      throw new DfsError(ErrorCode.PERMISSION_DENIED, 'token rejected: missing claims');
    }
    if (this.keys.isRevoked(jti)) throw new DfsError(ErrorCode.PERMISSION_DENIED, 'token rejected: revoked');
    return { caller: callerFor(user, groups as string[]), jti, expiresMs: payload.exp * 1000 };
  }
}
