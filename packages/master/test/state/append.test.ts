import assert from 'node:assert/strict';
import { ErrorCode } from '@dfs/proto';
import type { MetadataStore } from '../../src/state/metadata-store.js';
import { ChunkLeases } from '../../src/chunk-leases.js';
import { CHUNK, LEASE, StoreHarness, T0, createCmd, openStore, tempDir, writeFile } from '../helpers.js';

describe('append and chunk versions (state machine, GFS §3.3, §4.5)', function () {
  let dir: ReturnType<typeof tempDir>;
  let store: MetadataStore;
  let h: StoreHarness;

  beforeEach(function () {
    dir = tempDir();
    store = openStore(dir.dir);
    h = new StoreHarness(store);
  });
  afterEach(async function () {
    await store.close();
    dir.cleanup();
  });

  const open = (inode: number, clientId: string, now = T0 + 10) =>
    h.ok<{ file: { underConstruction: boolean; size: number }; version: number }>({ type: 'OpenAppend', inode, clientId, now, leaseExpiry: now + LEASE });

  it('OpenAppend keeps the file visible, takes the writer lease and grants a fresh version each time', function () {
    const { inode, chunks } = writeFile(h, '/a/f', [CHUNK, 100]);
    const first = open(inode, 'w1');
    assert.equal(first.file.underConstruction, true);
    assert.equal(store.getFile('/a/f').file.size, CHUNK + 100, 'committed bytes stay visible');
    assert.ok(first.version > 1);
    // The chunk keeps its version until the append completes.
    assert.equal(store.chunk(chunks[1]!.handle)!.version, 1);
    const again = open(inode, 'w1');
    assert.ok(again.version > first.version, 'a version is never handed out twice');
  });

  it('a second writer gets LEASE_HELD while the lease lives, and may take over once it expired', function () {
    const { inode } = writeFile(h, '/a/g', [10]);
    open(inode, 'w1');
    h.fails({ type: 'OpenAppend', inode, clientId: 'w2', now: T0 + 20, leaseExpiry: T0 + 20 + LEASE }, ErrorCode.LEASE_HELD);
    h.fails(createCmd('/a/g', 'w2', { overwrite: false }), ErrorCode.ALREADY_EXISTS);
    // The first writer allocated a chunk and died: the takeover drops it.
    h.ok({ type: 'AddChunk', inode, clientId: 'w1', index: 1, now: T0 + 30, leaseExpiry: T0 + 30 + LEASE });
    const later = T0 + 30 + LEASE + 1;
    open(inode, 'w2', later);
    assert.equal(store.chunksOf(inode).length, 1);
  });

  it('CompleteFile records the version the writer used and the new length; stale replicas are then older', function () {
    const { inode, chunks } = writeFile(h, '/a/h', [100]);
    const { version } = open(inode, 'w1');
    const add = h.ok({ type: 'AddChunk', inode, clientId: 'w1', index: 1, now: T0 + 11, leaseExpiry: T0 + 11 + LEASE });
    h.ok({
      type: 'CompleteFile', inode, clientId: 'w1', now: T0 + 12,
      chunks: [{ handle: chunks[0]!.handle, length: CHUNK, crc32c: 7, version }, { handle: add.handle, length: 5, crc32c: 8 }],
    });
    const got = store.getFile('/a/h');
    assert.equal(got.file.size, CHUNK + 5);
    assert.equal(got.file.underConstruction, false);
    assert.equal(got.chunks[0]!.version, version);
    assert.equal(got.chunks[1]!.version, 1);
    assert.equal(store.chunkFacts(chunks[0]!.handle)!.version, version);
  });

  it('AddChunk may replace any uncommitted chunk (parallel upload retries), not only the last', function () {
    const { file } = h.ok(createCmd('/a/p', 'w1'));
    const add = (index: number) => h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'w1', index, now: T0, leaseExpiry: T0 + LEASE });
    const c0 = add(0);
    add(1);
    add(2);
    const again = add(0);
    assert.notEqual(again.handle, c0.handle);
    assert.equal(store.chunk(c0.handle), undefined);
    assert.equal(store.chunksOf(file.inode).length, 3);
    assert.equal(store.inode(file.inode)!.chunk_count, 3);
    h.fails({ type: 'AddChunk', inode: file.inode, clientId: 'w1', index: 5, now: T0, leaseExpiry: T0 + LEASE }, ErrorCode.INVALID_ARGUMENT);
  });

  it('AddChunk with count allocates a batch of new chunks in one entry; a retry allocates one', function () {
    const { file } = h.ok(createCmd('/a/batch', 'w1'));
    const r = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'w1', index: 0, count: 4, now: T0, leaseExpiry: T0 + LEASE });
    assert.equal(r.more.length, 3);
    assert.deepEqual(r.more.map((c: { offset: number }) => c.offset), [CHUNK, 2 * CHUNK, 3 * CHUNK]);
    assert.equal(store.inode(file.inode)!.chunk_count, 4);
    const retry = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'w1', index: 2, count: 4, now: T0, leaseExpiry: T0 + LEASE });
    assert.equal(retry.more, undefined);
    assert.equal(store.chunksOf(file.inode).length, 4);
    const next = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'w1', index: 4, count: 1000, now: T0, leaseExpiry: T0 + LEASE });
    assert.equal(next.more.length, 63, 'at most 64 per entry');
  });
});

describe('CreateFile with firstChunk (single-chunk fast path)', function () {
  it('allocates chunk 0 in the same entry, exactly as AddChunk would; an unused one can be abandoned', function () {
    const dir = tempDir();
    const store = openStore(dir.dir);
    try {
      const h = new StoreHarness(store);
      const r = h.ok(createCmd('/s/a', 'w1', { firstChunk: true }));
      assert.equal(r.firstChunk.version, 1);
      assert.equal(r.firstChunk.offset, 0);
      assert.deepEqual(store.chunksOf(r.file.inode).map((c) => c.handle), [r.firstChunk.handle]);
      h.ok({ type: 'CompleteFile', inode: r.file.inode, clientId: 'w1', now: T0 + 1, chunks: [{ handle: r.firstChunk.handle, length: 10, crc32c: 3 }] });
      assert.equal(store.getFile('/s/a').file.size, 10);
      const e = h.ok(createCmd('/s/empty', 'w1', { firstChunk: true }));
      h.ok({ type: 'AbandonChunk', inode: e.file.inode, clientId: 'w1', handle: e.firstChunk.handle, now: T0, leaseExpiry: T0 + LEASE });
      h.ok({ type: 'CompleteFile', inode: e.file.inode, clientId: 'w1', now: T0 + 1, chunks: [] });
      assert.equal(store.getFile('/s/empty').chunks.length, 0);
      assert.equal(h.ok(createCmd('/s/b', 'w1')).firstChunk, undefined, 'absent flag = old behaviour');
    } finally {
      store.close();
      dir.cleanup();
    }
  });
});

describe('ChunkLeases (GFS §3.1)', function () {
  it('grants, expires, renews through the primary and the writer, releases', function () {
    const leases = new ChunkLeases(1000);
    leases.grant(7, 'c1', 3, 'w1', 0);
    assert.equal(leases.get(7, 999)?.primary, 'c1');
    assert.equal(leases.get(7, 1000), undefined, 'expired');
    leases.grant(7, 'c1', 4, 'w1', 0);
    leases.renewPrimary('c1', 900);
    assert.equal(leases.get(7, 1800)?.version, 4);
    leases.renewClient('w1', 1700);
    assert.ok(leases.get(7, 2600));
    leases.renewPrimary('c2', 2600);
    leases.release(7);
    assert.equal(leases.get(7, 2600), undefined);
    assert.equal(leases.size, 0);
  });
});
