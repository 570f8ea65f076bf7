import assert from 'node:assert/strict';
import { LEASE, StoreHarness, T0, createCmd, storePerTest } from '../helpers.js';

/** HDFS lease hard limit: renewing alone cannot keep a file under construction forever. */
describe('lease renewals are bounded by progress (HDFS hard limit)', function () {
  const HARD = 10 * LEASE;
  const fixture = storePerTest();
  let h: StoreHarness;
  beforeEach(() => (h = fixture.h));

  const expiryOf = (inode: number): number => h.store.inode(inode)!.lease_expiry!;
  const renew = (now: number, clientId = 'c1'): void => void h.ok({ type: 'RenewLease', clientId, now, leaseExpiry: now + LEASE, hardLimit: HARD });

  it('a writer that only renews loses its lease at its last progress + the hard limit, and the file is recovered', function () {
    const { file } = h.ok(createCmd('/idle', 'c1'));
    for (let now = T0 + LEASE / 2; now < T0 + HARD; now += LEASE / 2) {
      renew(now);
      assert.equal(expiryOf(file.inode), Math.min(now + LEASE, T0 + HARD), `renewed at +${now - T0} ms`);
    }
    renew(T0 + HARD + 1000);
    assert.equal(expiryOf(file.inode), T0 + HARD, 'a renewal past the bound extends nothing');
    assert.ok(!h.store.expiredLeases(T0 + HARD - 1, 10).some((r) => r.id === file.inode));
    assert.ok(h.store.expiredLeases(T0 + HARD + 1, 10).some((r) => r.id === file.inode), 'lease recovery picks it up');
    const r = h.ok({ type: 'RecoverLease', inode: file.inode, now: T0 + HARD + 1, chunks: [] });
    assert.ok(r, 'recovered');
    assert.equal(h.store.inode(file.inode)?.under_construction ?? 0, 0, 'no longer under construction');
  });

  it('progress (a chunk added, an append opened) moves the bound; other writers are not affected', function () {
    const a = h.ok(createCmd('/busy', 'c1')).file;
    const b = h.ok(createCmd('/other', 'c2')).file;
    h.ok({ type: 'AddChunk', inode: a.inode, clientId: 'c1', index: 0, now: T0 + HARD - LEASE, leaseExpiry: T0 + HARD });
    renew(T0 + HARD + 5000);
    assert.equal(expiryOf(a.inode), T0 + HARD + 5000 + LEASE, 'a chunk added just before the bound: renewed in full');
    assert.equal(expiryOf(b.inode), T0 + LEASE, "c1's renewal leaves c2's file alone");
    renew(T0 + 2 * HARD, 'c2');
    assert.ok(expiryOf(b.inode) <= T0 + HARD, 'c2 made no progress since T0: its lease ends by T0 + the hard limit, already past');
    assert.ok(h.store.expiredLeases(T0 + 2 * HARD, 10).some((r) => r.id === b.inode));
  });

  it('a renewal without a bound (a log entry from before the bound existed) behaves as before', function () {
    const { file } = h.ok(createCmd('/old', 'c1'));
    h.ok({ type: 'RenewLease', clientId: 'c1', now: T0 + 5 * HARD, leaseExpiry: T0 + 5 * HARD + LEASE });
    assert.equal(expiryOf(file.inode), T0 + 5 * HARD + LEASE);
  });
});
