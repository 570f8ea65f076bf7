import assert from 'node:assert/strict';
import { Metadata } from '@grpc/grpc-js';
import { DfsError, ErrorCode } from '@dfs/proto';
import { SUPERUSER, SUPERUSER_NAME, callerOf } from '../../src/auth/caller.js';

/** The superuser is the OS user running the master (HDFS): carol only if that is carol. */
const carolIsSuper = (): boolean => SUPERUSER_NAME === 'carol';
import { TokenService, newSigningKey, type SigningKey } from '../../src/auth/tokens.js';

async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(DfsError.is(err, ErrorCode.PERMISSION_DENIED), String(err));
    return (err as Error).message;
  }
  return 'accepted';
}

describe('bearer tokens (JWT HS256 with the cluster key) and callerOf', () => {
  let key: SigningKey | undefined;
  const revoked = new Set<string>();
  const tokens = new TokenService({ signingKey: () => key, isRevoked: (j) => revoked.has(j) });
  beforeEach(() => {
    key = newSigningKey();
    revoked.clear();
  });

  it('a token names its user and groups; supergroup members are superusers', async () => {
    const { token } = await tokens.issue('alice', ['alice', 'staff'], 60_000, Date.now());
    assert.deepEqual(await tokens.verify(token), { user: 'alice', groups: ['alice', 'staff'], superuser: false });
    const ops = await tokens.issue('ops', ['supergroup'], 60_000, Date.now());
    assert.equal((await tokens.verify(ops.token)).superuser, true);
  });

  it('refuses expired, revoked, re-signed and tampered tokens with one-line reasons', async () => {
    const old = await tokens.issue('alice', ['alice'], 1000, Date.now() - 10_000);
    assert.match(await rejection(tokens.verify(old.token)), /expired/);
    const t = await tokens.issue('bob', ['bob'], 60_000, Date.now());
    revoked.add(t.jti);
    assert.match(await rejection(tokens.verify(t.token)), /revoked/);
    revoked.clear();
    const [h, p, s] = t.token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'root', groups: ['supergroup'] })).toString('base64url')}.${s}`;
    assert.match(await rejection(tokens.verify(forged)), /bad signature/);
    key = newSigningKey(); // another cluster's key
    assert.match(await rejection(tokens.verify(t.token)), /bad signature/);
    assert.match(await rejection(tokens.verify('not-a-jwt')), /invalid/);
  });

  it('refuses bad names and lifetimes when issuing', async () => {
    await assert.rejects(tokens.issue('no body', [], 60_000, Date.now()), (e: unknown) => DfsError.is(e, ErrorCode.INVALID_ARGUMENT));
    await assert.rejects(tokens.issue('alice', ['x:y'], 60_000, Date.now()), (e: unknown) => DfsError.is(e, ErrorCode.INVALID_ARGUMENT));
    await assert.rejects(tokens.issue('alice', [], 400 * 86_400_000, Date.now()), (e: unknown) => DfsError.is(e, ErrorCode.INVALID_ARGUMENT));
  });

  it('callerOf: a Bearer token names its user; else the certificate (user, admin = superuser); plaintext is the superuser', async () => {
    const call = (md: Metadata, san?: string) => ({
      metadata: md,
      getAuthContext: () => (san ? { transportSecurityType: 'ssl', sslPeerCertificate: { subjectaltname: san } as never } : null),
    });
    assert.deepEqual(await callerOf(call(new Metadata()), tokens), { caller: SUPERUSER, via: 'insecure' });
    assert.deepEqual(await callerOf(call(new Metadata(), 'URI:dfs://user/carol'), tokens), {
      caller: { user: 'carol', groups: ['carol'], superuser: carolIsSuper() },
      via: 'certificate',
    });
    assert.deepEqual(await callerOf(call(new Metadata(), 'URI:dfs://admin/ops'), tokens), { caller: { user: 'ops', groups: ['supergroup'], superuser: true }, via: 'certificate' });
    const { token } = await tokens.issue('alice', ['alice'], 60_000, Date.now());
    const md = new Metadata();
    md.set('authorization', `Bearer ${token}`);
    assert.deepEqual(await callerOf(call(md, 'URI:dfs://admin/ops'), tokens), { caller: { user: 'alice', groups: ['alice'], superuser: false }, via: 'token' });
    const bad = new Metadata();
    bad.set('authorization', `Basic abc`);
    assert.match(await rejection(callerOf(call(bad, 'URI:dfs://user/carol'), tokens)), /malformed authorization/);
    assert.match(await rejection(callerOf(call(new Metadata(), 'URI:https://example.com'), tokens)), /may not call the master/);
  });
});
