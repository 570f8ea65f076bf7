import assert from 'node:assert/strict';
import { ErrorCode } from '@dfs/proto';
import { verifyChunkToken } from '@dfs/security';
import { ChunkTokenIssuer, leadTimeOf, planChunkKey, type ChunkTokenConfig } from '../../src/auth/chunk-tokens.js';
import { StoreHarness, T0, storePerTest } from '../helpers.js';

const CFG: ChunkTokenConfig = { ttlMs: 600_000, rotationMs: 3_600_000 };

describe('chunk token key ring (Raft state) and issuing', function () {
  const fixture = storePerTest();
  let h: StoreHarness;
  beforeEach(() => (h = fixture.h));

  /** What the leader's tick does: plan, and apply what it proposes. */
  function tick(now: number): boolean {
    const cmd = planChunkKey(h.store.chunkKeys(), now, CFG);
    if (cmd) h.ok(cmd);
    return cmd !== undefined;
  }

  it('the first key signs at once; the next is handed out ahead of its turn; old keys live until their tokens expired', function () {
    assert.ok(tick(T0), 'a cluster without a key gets one');
    const [first] = h.store.chunkKeys();
    assert.equal(first!.activeFromMs, T0);
    assert.equal(first!.expiresMs, T0 + CFG.rotationMs + CFG.ttlMs + 60_000);
    assert.ok(!tick(T0 + 1000), 'nothing to do while the key has long to sign');
    const lead = leadTimeOf(CFG);
    assert.ok(!tick(T0 + CFG.rotationMs - lead - 1));
    assert.ok(tick(T0 + CFG.rotationMs - lead), 'the next key is proposed lead ms before its turn');
    const keys = h.store.chunkKeys();
    assert.equal(keys.length, 2);
    assert.equal(keys[1]!.activeFromMs, T0 + CFG.rotationMs, 'and signs from the moment the old one stops');
    // Issued just before the switch: the old key; just after: the new one.
    const issuer = new ChunkTokenIssuer(() => h.store.chunkKeys(), CFG);
    const grant = { handle: 7, version: 1, ops: ['read' as const], nodes: ['c1'], user: 'alice' };
    assert.ok(issuer.issue(grant, T0 + CFG.rotationMs - 1).startsWith(`${keys[0]!.id}.`));
    assert.ok(issuer.issue(grant, T0 + CFG.rotationMs).startsWith(`${keys[1]!.id}.`));
    // Two rotations later the first key, whose every token has expired, is retired by the same command.
    assert.ok(tick(T0 + 2 * CFG.rotationMs));
    assert.ok(tick(T0 + 3 * CFG.rotationMs));
    assert.ok(!h.store.chunkKeys().some((k) => k.id === keys[0]!.id), 'the first key is gone');
    assert.equal(h.store.chunkKeys().length, 2, 'and so is the second: two keys remain, the signing one and the next');
  });

  it('a token verifies with the ring every master holds, and never outlives its key', function () {
    tick(T0);
    const issuer = new ChunkTokenIssuer(() => h.store.chunkKeys(), CFG);
    const t = issuer.issue({ handle: 9, version: 2, ops: ['write'], nodes: ['c1', 'c2', 'c3'], user: 'bob', leaseExpiryMs: T0 + 5 }, T0);
    const ring = (id: string): Buffer | undefined => h.store.chunkKeys().find((k) => k.id === id)?.secret;
    const c = verifyChunkToken(t, ring, { handle: 9, op: 'write', node: 'c3', nowMs: T0 + 1 });
    assert.deepEqual({ v: c.version, l: c.leaseExpiryMs, u: c.user, e: c.expiresMs }, { v: 2, l: T0 + 5, u: 'bob', e: T0 + CFG.ttlMs });
    const late = issuer.issue({ handle: 9, version: 2, ops: ['read'], nodes: ['c1'], user: 'bob' }, h.store.chunkKeys()[0]!.expiresMs - 1000);
    assert.ok(verifyChunkToken(late, ring, { handle: 9, op: 'read', node: 'c1', nowMs: T0 }).expiresMs <= h.store.chunkKeys()[0]!.expiresMs);
  });

  it('a bad key command is refused and changes nothing', function () {
    h.fails({ type: 'AddChunkKey', id: 'a b', secret: Buffer.alloc(32).toString('base64'), activeFrom: T0, expires: T0 + 1, now: T0 }, ErrorCode.INVALID_ARGUMENT);
    h.fails({ type: 'AddChunkKey', id: 'k1', secret: 'c2hvcnQ=', activeFrom: T0, expires: T0 + 1, now: T0 }, ErrorCode.INVALID_ARGUMENT);
    assert.throws(() => new ChunkTokenIssuer(() => h.store.chunkKeys(), CFG).issue({ handle: 1, version: 1, ops: ['read'], nodes: [], user: 'u' }, T0), /not set up yet/);
  });
});
