import assert from 'node:assert/strict';
import { DfsError, ErrorCode } from '@dfs/proto';
import {
  ChunkKeyRing,
  decodeChunkToken,
  mintChunkToken,
  newChunkTokenKey,
  signingKeyOf,
  verifyChunkToken,
  type ChunkTokenClaims,
  type ChunkTokenKey,
  type TokenRequirement,
} from '../src/index.js';

const NOW = 1_800_000_000_000;

function claims(over: Partial<ChunkTokenClaims> = {}): ChunkTokenClaims {
  return { handle: 42, version: 3, ops: ['read'], nodes: ['c1', 'c2'], user: 'alice', expiresMs: NOW + 60_000, leaseExpiryMs: 0, ...over };
}

function refusal(fn: () => unknown): DfsError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DfsError, `not a DfsError: ${String(err)}`);
    return err;
  }
  assert.fail('accepted');
}

describe('chunk access tokens: mint and verify', () => {
  const key = newChunkTokenKey(NOW - 1000, NOW + 3_600_000);
  const keys = (id: string): Buffer | undefined => (id === key.id ? key.secret : undefined);
  const want: TokenRequirement = { handle: 42, op: 'read', node: 'c1', nowMs: NOW };

  it('a token the master signed verifies and carries its claims', () => {
    const t = mintChunkToken(key, claims({ ops: ['read', 'copy'], leaseExpiryMs: NOW + 5 }));
    assert.deepEqual(verifyChunkToken(t, keys, want), claims({ ops: ['read', 'copy'], leaseExpiryMs: NOW + 5 }));
    assert.deepEqual(verifyChunkToken(t, keys, { ...want, op: 'copy', node: 'c2' }).nodes, ['c1', 'c2']);
  });

  it('a changed claim (a forged payload) fails the signature', () => {
    const t = mintChunkToken(key, claims());
    const [id, , mac] = t.split('.');
    const forged = Buffer.from(JSON.stringify({ h: 42, v: 3, o: 'rwcd', n: ['c1', 'c2'], u: 'alice', e: NOW + 60_000, l: 0 })).toString('base64url');
    const e = refusal(() => verifyChunkToken(`${id}.${forged}.${mac}`, keys, want));
    assert.equal(e.code, ErrorCode.PERMISSION_DENIED);
    assert.match(e.message, /bad signature/);
    // A token signed with another key of the same id
    const other: ChunkTokenKey = { ...newChunkTokenKey(0, NOW + 1e6), id: key.id };
    assert.match(refusal(() => verifyChunkToken(mintChunkToken(other, claims()), keys, want)).message, /bad signature/);
  });

  it('an unknown key, an expired token, another chunk, another operation and another node are refused, each in one line', () => {
    const stranger = newChunkTokenKey(0, NOW + 1e6);
    const cases: Array<[string, string, typeof want, ErrorCode, RegExp]> = [
      ['unknown key', mintChunkToken(stranger, claims()), want, ErrorCode.PERMISSION_DENIED, /unknown key/],
      ['expired', mintChunkToken(key, claims({ expiresMs: NOW })), want, ErrorCode.TOKEN_EXPIRED, /expired at/],
      ['another chunk', mintChunkToken(key, claims()), { ...want, handle: 43 }, ErrorCode.PERMISSION_DENIED, /is for chunk 42, not 43/],
      ['another operation', mintChunkToken(key, claims()), { ...want, op: 'write' }, ErrorCode.PERMISSION_DENIED, /does not allow write/],
      ['another node', mintChunkToken(key, claims()), { ...want, node: 'c3' }, ErrorCode.PERMISSION_DENIED, /does not name chunkserver c3/],
    ];
    for (const [what, token, w, code, re] of cases) {
      const e = refusal(() => verifyChunkToken(token, keys, w));
      assert.equal(e.code, code, what);
      assert.match(e.message, re, what);
      assert.ok(!e.message.includes('\n'), what);
    }
  });

  it('malformed tokens are refused before any key is looked up', () => {
    const bad = ['', 'x', 'a.b', 'a.b.c.d', 'k!.e30.AA', `k.${'A'.repeat(5000)}.AA`, `k.${Buffer.from('not json').toString('base64url')}.AA`,
      `k.${Buffer.from('null').toString('base64url')}.AA`, `k.${Buffer.from('7').toString('base64url')}.AA`,
      `k.${Buffer.from(JSON.stringify({ h: -1, v: 1, o: 'r', n: [], u: 'u', e: 1, l: 0 })).toString('base64url')}.AA`,
      `k.${Buffer.from(JSON.stringify({ h: 1, v: 1, o: 'rz', n: [], u: 'u', e: 1, l: 0 })).toString('base64url')}.AA`,
      `k.${Buffer.from(JSON.stringify({ h: 1, v: 1, o: 'r', n: ['../etc'], u: 'u', e: 1, l: 0 })).toString('base64url')}.AA`];
    for (const t of bad) {
      let looked = false;
      const e = refusal(() => verifyChunkToken(t, () => ((looked = true), key.secret), want));
      assert.equal(e.code, ErrorCode.PERMISSION_DENIED, t.slice(0, 40));
      assert.equal(looked, false, t.slice(0, 40));
    }
    assert.equal(decodeChunkToken(mintChunkToken(key, claims())).claims.expiresMs, NOW + 60_000);
  });

  it('masters sign with the newest active key that outlives a token; a future key is not used yet', () => {
    const old = { id: 'old', activeFromMs: NOW - 7200_000, expiresMs: NOW + 100_000 };
    const cur = { id: 'cur', activeFromMs: NOW - 3600_000, expiresMs: NOW + 3_600_000 };
    const next = { id: 'next', activeFromMs: NOW + 10_000, expiresMs: NOW + 7_200_000 };
    assert.equal(signingKeyOf([old, cur, next], NOW, 600_000)?.id, 'cur');
    assert.equal(signingKeyOf([old, next], NOW, 600_000)?.id, 'old', 'no key outlives the token: the newest active one');
    assert.equal(signingKeyOf([next], NOW, 600_000), undefined);
  });

  it("a chunkserver's ring merges every master's keys, drops expired ones and wakes a waiting call", async () => {
    const ring = new ChunkKeyRing();
    const a = newChunkTokenKey(0, NOW + 1000);
    const b = newChunkTokenKey(0, NOW + 5000);
    ring.merge([a], NOW);
    ring.merge([a, b, newChunkTokenKey(0, NOW - 1)], NOW);
    assert.equal(ring.size, 2);
    assert.ok(ring.secret(a.id)?.equals(a.secret));
    ring.merge([], NOW + 2000);
    assert.equal(ring.secret(a.id), undefined, 'expired keys are dropped');
    const asked = Date.now();
    const waited = ring.whenKeyArrives(10_000);
    ring.merge([newChunkTokenKey(0, NOW + 9000)], NOW + 2000);
    await waited;
    assert.ok(Date.now() - asked < 1_000, 'woken by the key, not by the 10 s timeout');
    const idle = Date.now();
    await ring.whenKeyArrives(50);
    assert.ok(Date.now() - idle >= 40, 'no key: gives up after the wait');
  });
});
