import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, FileType, MAX_INLINE_BYTES } from '@dfs/proto';
import { CommandDecodeError, encodeCommand } from '../../src/state/commands.js';
import { MetadataStore, OP_RESULT_RETENTION_MS } from '../../src/state/metadata-store.js';
import { CHUNK, LEASE, StoreHarness, T0, createCmd, openStore, tempDir, writeFile } from '../helpers.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return ErrorCode[(err as { code: ErrorCode }).code]!;
  }
  return 'no error';
}

describe('MetadataStore (the state machine applied directly)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: MetadataStore;
  let h: StoreHarness;
  beforeEach(() => {
    t = tempDir();
    store = openStore(t.dir);
    h = new StoreHarness(store);
  });
  afterEach(async () => {
    await store.close();
    t.cleanup();
  });

  describe('Mkdir', () => {
    it('creates one directory, NOT_FOUND without its parent, ALREADY_EXISTS when present', () => {
      h.ok({ type: 'Mkdir', path: '/a', parents: false, mode: 0o755, now: T0 });
      assert.equal(store.stat('/a').type, FileType.DIRECTORY);
      h.fails({ type: 'Mkdir', path: '/x/y', parents: false, mode: 0o755, now: T0 }, ErrorCode.NOT_FOUND);
      h.fails({ type: 'Mkdir', path: '/a', parents: false, mode: 0o755, now: T0 }, ErrorCode.ALREADY_EXISTS);
      h.fails({ type: 'Mkdir', path: '/', parents: false, mode: 0o755, now: T0 }, ErrorCode.ALREADY_EXISTS);
    });
    it('mkdir -p creates every missing parent and accepts an existing directory', () => {
      h.ok({ type: 'Mkdir', path: '/a/b/c', parents: true, mode: 0o750, now: T0 });
      assert.equal(store.stat('/a/b').mode, 0o750);
      const again = h.ok({ type: 'Mkdir', path: '/a/b/c', parents: true, mode: 0o755, now: T0 });
      assert.equal(again.dir.path, '/a/b/c');
    });
    it('fails with NOT_A_DIRECTORY when a file is in the way, NAME_TOO_LONG / INVALID_PATH on bad names', () => {
      writeFile(h, '/f', [10]);
      h.fails({ type: 'Mkdir', path: '/f/x', parents: true, mode: 0o755, now: T0 }, ErrorCode.NOT_A_DIRECTORY);
      h.fails({ type: 'Mkdir', path: '/f', parents: true, mode: 0o755, now: T0 }, ErrorCode.ALREADY_EXISTS);
      h.fails({ type: 'Mkdir', path: '/' + 'n'.repeat(256), parents: true, mode: 0o755, now: T0 }, ErrorCode.NAME_TOO_LONG);
      h.fails({ type: 'Mkdir', path: '/a/../b', parents: true, mode: 0o755, now: T0 }, ErrorCode.INVALID_PATH);
      h.ok({ type: 'Mkdir', path: '/' + 'n'.repeat(255), parents: true, mode: 0o755, now: T0 });
    });
  });

  describe('CreateFile / AddChunk / CompleteFile', () => {
    it('creates missing parents, keeps the file invisible until CompleteFile, then shows it whole', () => {
      const { file } = h.ok(createCmd('/d/e/f.txt'));
      assert.equal(file.underConstruction, true);
      assert.equal(store.stat('/d/e').type, FileType.DIRECTORY);
      assert.equal(codeOf(() => store.stat('/d/e/f.txt')), 'NOT_FOUND');
      assert.deepEqual(store.list('/d/e', '', 0).entries, []);
      const c0 = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 0, now: T0, leaseExpiry: T0 + LEASE });
      const c1 = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 1, now: T0, leaseExpiry: T0 + LEASE });
      assert.equal(c0.version, 1);
      assert.equal(c1.offset, CHUNK);
      assert.ok(c1.handle > c0.handle);
      h.ok({
        type: 'CompleteFile', inode: file.inode, clientId: 'c1', now: T0 + 5,
        chunks: [{ handle: c0.handle, length: CHUNK, crc32c: 7 }, { handle: c1.handle, length: 10, crc32c: 8 }],
      });
      const st = store.stat('/d/e/f.txt');
      assert.equal(st.size, CHUNK + 10);
      assert.equal(st.chunkCount, 2);
      assert.equal(st.underConstruction, false);
      assert.equal(st.mtimeMs, T0 + 5);
      const got = store.getFile('/d/e/f.txt');
      assert.deepEqual(got.chunks.map((c) => [c.handle, c.length, c.crc32c]), [[c0.handle, CHUNK, 7], [c1.handle, 10, 8]]);
    });
    it('rejects chunks out of order, a wrong chunk list, and an over-long chunk, changing nothing', () => {
      const { file } = h.ok(createCmd('/f'));
      h.fails({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 1, now: T0, leaseExpiry: T0 + LEASE }, ErrorCode.INVALID_ARGUMENT);
      const c0 = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 0, now: T0, leaseExpiry: T0 + LEASE });
      h.fails({ type: 'CompleteFile', inode: file.inode, clientId: 'c1', now: T0, chunks: [] }, ErrorCode.INVALID_ARGUMENT);
      h.fails(
        { type: 'CompleteFile', inode: file.inode, clientId: 'c1', now: T0, chunks: [{ handle: c0.handle, length: CHUNK + 1, crc32c: 0 }] },
        ErrorCode.INVALID_ARGUMENT,
      );
      h.fails({ type: 'AddChunk', inode: 999, clientId: 'c1', index: 0, now: T0, leaseExpiry: T0 }, ErrorCode.NOT_FOUND);
    });
    it('AddChunk again at the last uncommitted index replaces that chunk (a retry with a new replica set)', () => {
      const { file } = h.ok(createCmd('/f'));
      const a = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 0, now: T0, leaseExpiry: T0 + LEASE });
      const b = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 0, now: T0, leaseExpiry: T0 + LEASE });
      assert.notEqual(a.handle, b.handle);
      assert.equal(store.chunk(a.handle), undefined);
      assert.deepEqual(store.chunksOf(file.inode).map((c) => c.handle), [b.handle]);
    });
    it('AbandonChunk drops the last uncommitted chunk and is idempotent', () => {
      const { file } = h.ok(createCmd('/f'));
      const a = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 0, now: T0, leaseExpiry: T0 + LEASE });
      h.ok({ type: 'AbandonChunk', inode: file.inode, clientId: 'c1', handle: a.handle, now: T0, leaseExpiry: T0 + LEASE });
      h.ok({ type: 'AbandonChunk', inode: file.inode, clientId: 'c1', handle: a.handle, now: T0, leaseExpiry: T0 + LEASE });
      assert.deepEqual(store.chunksOf(file.inode), []);
      const b = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 0, now: T0, leaseExpiry: T0 + LEASE });
      h.ok({ type: 'CompleteFile', inode: file.inode, clientId: 'c1', now: T0, chunks: [{ handle: b.handle, length: 3, crc32c: 1 }] });
      assert.equal(store.stat('/f').size, 3);
    });
    it('CompleteFile is idempotent for the same chunk list (a retried RPC)', () => {
      const { inode, chunks } = writeFile(h, '/f', [5]);
      const again = h.ok({ type: 'CompleteFile', inode, clientId: 'c1', now: T0 + 9, chunks });
      assert.equal(again.file.size, 5);
    });
    it('an empty file completes with no chunks', () => {
      writeFile(h, '/empty', []);
      assert.equal(store.stat('/empty').size, 0);
    });
    it('ALREADY_EXISTS without overwrite, IS_A_DIRECTORY over a directory, NOT_A_DIRECTORY under a file', () => {
      writeFile(h, '/f', [1]);
      h.ok({ type: 'Mkdir', path: '/d', parents: false, mode: 0o755, now: T0 });
      h.fails(createCmd('/f'), ErrorCode.ALREADY_EXISTS);
      h.fails(createCmd('/d', 'c1', { overwrite: true }), ErrorCode.IS_A_DIRECTORY);
      h.fails(createCmd('/f/g'), ErrorCode.NOT_A_DIRECTORY);
      h.fails(createCmd('/'), ErrorCode.IS_A_DIRECTORY);
      h.fails(createCmd('/d/' + 'x'.repeat(256)), ErrorCode.NAME_TOO_LONG);
      h.fails(createCmd('/g', ''), ErrorCode.INVALID_ARGUMENT);
    });
    it('overwrite keeps the old file readable until the new one completes, then swaps atomically', () => {
      const old = writeFile(h, '/f', [100]);
      const { file } = h.ok(createCmd('/f', 'c2', { overwrite: true }));
      assert.equal(store.stat('/f').inode, old.inode);
      const c = h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'c2', index: 0, now: T0, leaseExpiry: T0 + LEASE });
      assert.equal(store.stat('/f').size, 100);
      h.ok({ type: 'CompleteFile', inode: file.inode, clientId: 'c2', now: T0, chunks: [{ handle: c.handle, length: 7, crc32c: 0 }] });
      const st = store.stat('/f');
      assert.equal(st.inode, file.inode);
      assert.equal(st.size, 7);
      assert.equal(store.chunk(old.chunks[0]!.handle), undefined, 'the old chunks are no longer referenced');
    });
    it('a file created without overwrite fails at completion if the name was taken meanwhile', () => {
      writeFile(h, '/g', [1], 'c2');
      const { file } = h.ok(createCmd('/f', 'c1'));
      h.ok({ type: 'Rename', src: '/g', dst: '/f', overwrite: false, now: T0 });
      h.fails({ type: 'CompleteFile', inode: file.inode, clientId: 'c1', now: T0, chunks: [] }, ErrorCode.ALREADY_EXISTS);
    });
  });

  describe('writer leases', () => {
    it('one writer per path: LEASE_HELD for another client while the lease is live', () => {
      const { file } = h.ok(createCmd('/f', 'c1'));
      h.fails(createCmd('/f', 'c2'), ErrorCode.LEASE_HELD);
      h.fails({ type: 'AddChunk', inode: file.inode, clientId: 'c2', index: 0, now: T0, leaseExpiry: T0 + LEASE }, ErrorCode.LEASE_HELD);
      h.fails({ type: 'CompleteFile', inode: file.inode, clientId: 'c2', now: T0, chunks: [] }, ErrorCode.LEASE_HELD);
    });
    it('after the lease expires another client may create the path (the stale attempt is dropped)', () => {
      const { file } = h.ok(createCmd('/f', 'c1'));
      const { file: f2 } = h.ok(createCmd('/f', 'c2', { now: T0 + LEASE + 1, leaseExpiry: T0 + 2 * LEASE + 1 }));
      assert.equal(store.inode(file.inode), undefined);
      h.fails({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 0, now: T0, leaseExpiry: T0 }, ErrorCode.NOT_FOUND);
      assert.equal(store.inode(f2.inode)!.lease_holder, 'c2');
    });
    it('RenewLease extends every lease of the client', () => {
      const a = h.ok(createCmd('/a', 'c1')).file;
      const b = h.ok(createCmd('/b', 'c1')).file;
      const r = h.ok({ type: 'RenewLease', clientId: 'c1', now: T0 + 10, leaseExpiry: T0 + 10 + LEASE });
      assert.equal(r.renewed, 2);
      assert.equal(store.inode(a.inode)!.lease_expiry, T0 + 10 + LEASE);
      assert.equal(store.inode(b.inode)!.lease_expiry, T0 + 10 + LEASE);
      assert.deepEqual(store.expiredLeases(T0 + LEASE + 5, 10), []);
      assert.equal(store.expiredLeases(T0 + LEASE + 10, 10).length, 2);
    });
    it('RecoverLease does nothing before expiry and closes the file at its last complete chunk after', () => {
      const { file } = h.ok(createCmd('/dir/f', 'c1'));
      const add = (index: number, previous?: { handle: number; length: number; crc32c: number }) =>
        h.ok({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index, previous, now: T0, leaseExpiry: T0 + LEASE });
      const c0 = add(0);
      const c1 = add(1, { handle: c0.handle, length: CHUNK, crc32c: 11 });
      const c2 = add(2);
      add(3);
      assert.deepEqual(h.ok({ type: 'RecoverLease', inode: file.inode, now: T0 + 1, chunks: [] }), { outcome: 'not-expired' });
      // chunk 0 committed by `previous`; chunk 1 reported by chunkservers; chunk 2 never reported.
      const r = h.ok({
        type: 'RecoverLease', inode: file.inode, now: T0 + LEASE,
        chunks: [{ handle: c1.handle, length: CHUNK, crc32c: 12 }, { handle: c2.handle + 1000, length: 1, crc32c: 0 }],
      });
      assert.deepEqual(r, { outcome: 'closed', path: '/dir/f', size: 2 * CHUNK });
      const got = store.getFile('/dir/f');
      assert.deepEqual(got.chunks.map((c) => c.handle), [c0.handle, c1.handle]);
      assert.equal(got.file.underConstruction, false);
      assert.equal(store.chunk(c2.handle), undefined);
      h.fails({ type: 'AddChunk', inode: file.inode, clientId: 'c1', index: 2, now: T0, leaseExpiry: T0 }, ErrorCode.LEASE_EXPIRED);
      assert.deepEqual(h.ok({ type: 'RecoverLease', inode: file.inode, now: T0 + LEASE, chunks: [] }), { outcome: 'gone' });
    });
    it('RecoverLease discards a file whose directory was deleted meanwhile', () => {
      const { file } = h.ok(createCmd('/dir/f', 'c1'));
      h.ok({ type: 'Delete', path: '/dir', recursive: true, skipTrash: true, now: T0 });
      h.fails({ type: 'CompleteFile', inode: file.inode, clientId: 'c1', now: T0, chunks: [] }, ErrorCode.NOT_FOUND);
      assert.deepEqual(h.ok({ type: 'RecoverLease', inode: file.inode, now: T0 + LEASE, chunks: [] }), { outcome: 'discarded' });
      assert.equal(store.inode(file.inode), undefined);
    });
  });

  describe('Delete and trash', () => {
    it('NOT_EMPTY for a non-empty directory without recursive; NOT_FOUND; / is refused', () => {
      writeFile(h, '/d/f', [1]);
      h.fails({ type: 'Delete', path: '/d', recursive: false, skipTrash: true, now: T0 }, ErrorCode.NOT_EMPTY);
      h.fails({ type: 'Delete', path: '/nope', recursive: false, skipTrash: true, now: T0 }, ErrorCode.NOT_FOUND);
      h.fails({ type: 'Delete', path: '/', recursive: true, skipTrash: true, now: T0 }, ErrorCode.INVALID_ARGUMENT);
    });
    it('skip_trash deletes the whole subtree and its chunks', () => {
      const f = writeFile(h, '/d/e/f', [1, 2]);
      writeFile(h, '/d/g', [3]);
      h.ok({ type: 'Delete', path: '/d', recursive: true, skipTrash: true, now: T0 });
      assert.equal(codeOf(() => store.stat('/d')), 'NOT_FOUND');
      assert.equal(store.inode(f.inode), undefined);
      assert.equal(store.committedChunkCount(), 0);
      assert.deepEqual(store.dump().inodes.length, 1, 'only / is left');
    });
    it('moves to /user/NAME/.Trash/Current/<path>, suffixes a taken name, deletes for good inside the trash', () => {
      writeFile(h, '/d/f', [1]);
      const r1 = h.ok({ type: 'Delete', path: '/d/f', recursive: false, skipTrash: false, now: T0 + 1 });
      assert.equal(r1.trashedTo, '/user/root/.Trash/Current/d/f');
      assert.equal(store.stat('/user/root/.Trash/Current/d/f').size, 1);
      writeFile(h, '/d/f', [2]);
      const r2 = h.ok({ type: 'Delete', path: '/d/f', recursive: false, skipTrash: false, now: T0 + 2 });
      assert.equal(r2.trashedTo, `/user/root/.Trash/Current/d/f.${T0 + 2}`);
      h.ok({ type: 'Delete', path: r2.trashedTo, recursive: false, skipTrash: false, now: T0 + 3 });
      assert.equal(codeOf(() => store.stat(r2.trashedTo)), 'NOT_FOUND');
      assert.deepEqual(store.list('/user/root/.Trash/Current/d', '', 0).entries.map((e) => e.name), ['f']);
    });
    it('TrashCheckpoint renames Current to a timestamp and deletes checkpoints older than the interval', () => {
      writeFile(h, '/a', [1]);
      h.ok({ type: 'Delete', path: '/a', recursive: false, skipTrash: false, now: T0 });
      assert.equal(store.trashHasWork(T0, 1000), true);
      const c1 = h.ok({ type: 'TrashCheckpoint', now: T0 + 10, intervalMs: 1000 });
      assert.deepEqual(c1, { deleted: 0, checkpoint: `/user/root/.Trash/${T0 + 10}`, checkpoints: [`/user/root/.Trash/${T0 + 10}`] });
      assert.equal(store.stat(`/user/root/.Trash/${T0 + 10}/a`).size, 1);
      assert.equal(store.trashHasWork(T0 + 500, 1000), false);
      const c2 = h.ok({ type: 'TrashCheckpoint', now: T0 + 1010, intervalMs: 1000 });
      assert.deepEqual(c2, { deleted: 1 });
      assert.deepEqual(store.list('/user/root/.Trash', '', 0).entries, []);
      assert.equal(store.committedChunkCount(), 0);
    });
  });

  describe('Rename', () => {
    beforeEach(() => {
      writeFile(h, '/a/f', [1]);
      writeFile(h, '/a/sub/g', [2]);
      writeFile(h, '/b/h', [3]);
      h.ok({ type: 'Mkdir', path: '/empty', parents: false, mode: 0o755, now: T0 });
    });
    const mv = (src: string, dst: string, overwrite = false) => ({ type: 'Rename' as const, src, dst, overwrite, now: T0 + 50 });

    it('moves a directory with its subtree atomically and updates both parents', () => {
      h.ok(mv('/a', '/b/a2'));
      assert.equal(store.stat('/b/a2/sub/g').size, 2);
      assert.equal(codeOf(() => store.stat('/a')), 'NOT_FOUND');
      assert.equal(store.stat('/b').mtimeMs, T0 + 50);
    });
    it('refuses to move a directory into itself or below itself (INVALID_ARGUMENT)', () => {
      h.fails(mv('/a', '/a/sub/x'), ErrorCode.INVALID_ARGUMENT);
      h.fails(mv('/a', '/a/x'), ErrorCode.INVALID_ARGUMENT);
      h.ok(mv('/a', '/a')); // POSIX: a no-op
    });
    it('over an existing file: ALREADY_EXISTS without overwrite, replaced with it', () => {
      h.fails(mv('/a/f', '/b/h'), ErrorCode.ALREADY_EXISTS);
      h.ok(mv('/a/f', '/b/h', true));
      assert.equal(store.stat('/b/h').size, 1);
    });
    it('over directories: NOT_EMPTY for a non-empty one, replaces an empty one, type mismatches are typed', () => {
      h.fails(mv('/b', '/a', true), ErrorCode.NOT_EMPTY);
      h.fails(mv('/a/f', '/empty', true), ErrorCode.IS_A_DIRECTORY);
      h.fails(mv('/empty', '/a/f', true), ErrorCode.NOT_A_DIRECTORY);
      h.ok(mv('/b', '/empty', true));
      assert.equal(store.stat('/empty/h').size, 3);
    });
    it('NOT_FOUND for a missing source or destination parent; NOT_A_DIRECTORY under a file; / refused', () => {
      h.fails(mv('/nope', '/x'), ErrorCode.NOT_FOUND);
      h.fails(mv('/a/f', '/nodir/x'), ErrorCode.NOT_FOUND);
      h.fails(mv('/a/sub', '/b/h/x'), ErrorCode.NOT_A_DIRECTORY);
      h.fails(mv('/', '/x'), ErrorCode.INVALID_ARGUMENT);
      h.fails(mv('/a', '/' + 'y'.repeat(300)), ErrorCode.NAME_TOO_LONG);
    });
  });

  describe('List', () => {
    it('pages through 20,000 entries in name order with start_after', function () {
      this.timeout(60_000);
      h.ok({ type: 'Mkdir', path: '/big', parents: false, mode: 0o755, now: T0 });
      const names: string[] = [];
      for (let i = 0; i < 20_000; i++) {
        const name = `e${String(i).padStart(6, '0')}`;
        names.push(name);
        h.ok({ type: 'Mkdir', path: `/big/${name}`, parents: false, mode: 0o755, now: T0 });
      }
      const seen: string[] = [];
      let after = '';
      let pages = 0;
      for (;;) {
        const page = store.list('/big', after, 1000);
        pages++;
        seen.push(...page.entries.map((e) => e.name));
        if (!page.hasMore) break;
        after = page.entries[page.entries.length - 1]!.name;
      }
      assert.equal(pages, 20);
      assert.deepEqual(seen, names);
      assert.equal(store.list('/big/e000001', '', 0).entries.length, 0);
      assert.equal(store.list('/big', 'e019999', 10).hasMore, false);
    });
    it('lists a file as itself and fails NOT_FOUND for a missing path', () => {
      writeFile(h, '/f', [4]);
      assert.deepEqual(store.list('/f', '', 0).entries.map((e) => e.path), ['/f']);
      assert.equal(codeOf(() => store.list('/nope', '', 0)), 'NOT_FOUND');
    });
  });

  describe('determinism and durability', () => {
    function exercise(): void {
      writeFile(h, '/x/y/z', [CHUNK, 5]);
      writeFile(h, '/x/y/z', [9], 'c2', true);
      h.ok({ type: 'Mkdir', path: '/m/n', parents: true, mode: 0o700, now: T0 + 3 });
      h.ok({ type: 'Rename', src: '/m', dst: '/x/m', overwrite: false, now: T0 + 4 });
      h.apply(createCmd('/x/y/z')); // fails: exists
      h.ok({ type: 'Delete', path: '/x/y', recursive: true, skipTrash: false, now: T0 + 5 });
      h.ok(createCmd('/open', 'c3'));
      h.ok({ type: 'TrashCheckpoint', now: T0 + 6, intervalMs: 10 });
    }

    it('replaying the same log into a fresh database gives identical state', () => {
      exercise();
      const other = openStore(t.dir, 'replay.db');
      try {
        h.log.forEach((data, i) => other.apply(i + 1, data));
        assert.deepEqual(other.dump(), store.dump());
      } finally {
        other.close();
      }
    });
    it('stores the applied index with the change: after reopening, applied entries are not applied again', () => {
      exercise();
      const applied = store.appliedIndex();
      const before = store.dump();
      store.close();
      store = openStore(t.dir);
      assert.equal(store.appliedIndex(), applied);
      h.log.forEach((data, i) => assert.equal(store.apply(i + 1, data), undefined));
      assert.deepEqual(store.dump(), before);
      const r = store.apply(applied + 1, encodeCommand({ type: 'Mkdir', path: '/later', parents: false, mode: 0o755, now: T0 }));
      assert.equal(r?.ok, true);
      assert.equal(store.appliedIndex(), applied + 1);
    });
    it('an entry that fails to decode is fatal: it throws and nothing (not even the index) changes', () => {
      const before = store.dump();
      assert.throws(() => store.apply(1, Buffer.from('not json')), CommandDecodeError);
      assert.throws(() => store.apply(1, Buffer.from(JSON.stringify({ v: 1, type: 'Explode' }))), CommandDecodeError);
      assert.throws(() => store.apply(1, Buffer.from(JSON.stringify({ v: 99, type: 'Noop' }))), CommandDecodeError);
      assert.throws(() => store.apply(1, Buffer.from(JSON.stringify({ v: 1, type: 'Mkdir', path: 5 }))), CommandDecodeError);
      assert.deepEqual(store.dump(), before);
      assert.equal(store.appliedIndex(), 0);
    });
    it('applyBatch (group commit) gives the same results and state as one apply per entry', () => {
      exercise();
      const other = openStore(t.dir, 'batch.db');
      try {
        const entries = h.log.map((data, i) => ({ index: i + 1, data }));
        const results = other.applyBatch(entries.slice(0, 9));
        assert.equal(results.filter((r) => r && !r.ok).length, 0);
        const rest = other.applyBatch(entries.slice(5)); // overlapping: 6..9 are skipped
        assert.deepEqual(rest.slice(0, 5).map((r) => r === undefined), [true, true, true, true, false]);
        assert.equal(rest.filter((r) => r && !r.ok).length, 1, 'the one failing command still fails');
        assert.deepEqual(other.dump(), store.dump());
        assert.throws(() => other.applyBatch([{ index: 999, data: Buffer.from('{') }]), CommandDecodeError);
        assert.equal(other.appliedIndex(), h.log.length);
      } finally {
        other.close();
      }
    });
    it('an empty entry (a Raft no-op) only advances the applied index', () => {
      assert.deepEqual(store.apply(1, new Uint8Array()), { ok: true, value: {} });
      assert.equal(store.appliedIndex(), 1);
    });
    it('allocates inode ids and chunk handles from state, so they are equal on every replica', () => {
      const a = writeFile(h, '/f', [1, 1]);
      assert.equal(store.counter('next_handle'), a.chunks[1]!.handle + 1);
      assert.equal(store.counter('next_inode'), a.inode + 1);
    });
    it('snapshot (VACUUM INTO) and restore reproduce the state at the snapshot index', async () => {
      exercise();
      const snap = join(t.dir, 'snap.db');
      const { index } = await store.snapshot(snap);
      assert.equal(index, store.appliedIndex());
      const at = store.dump();
      h.ok({ type: 'Mkdir', path: '/after', parents: false, mode: 0o755, now: T0 });
      await assert.rejects(store.restore(snap, index + 5));
      await store.restore(snap, index);
      assert.equal(store.appliedIndex(), index);
      assert.deepEqual(store.dump(), at);
      assert.equal(codeOf(() => store.stat('/after')), 'NOT_FOUND');
    });

    it('rejects a snapshot file with flipped bytes and keeps the current state (Test_Store_Restore_CRCBad)', async () => {
      exercise();
      const snap = join(t.dir, 'snap.db');
      const { index } = await store.snapshot(snap);
      const at = store.dump();
      const bytes = readFileSync(snap);
      for (let i = 4096; i < bytes.length; i += 61) bytes[i] ^= 0xff; // bytes flipped all over every page but the first
      writeFileSync(snap, bytes);
      await assert.rejects(store.restore(snap, index), /rejected/);
      writeFileSync(snap, Buffer.from('not a database at all'));
      await assert.rejects(store.restore(snap, index), /rejected/);
      assert.deepEqual(store.dump(), at);
    });
  });

  describe('retry cache (client operation ids)', () => {
    it('a retried Mkdir, Rename or Delete with the same op id returns the first result and acts once', () => {
      h.ok({ type: 'Mkdir', path: '/a', parents: false, mode: 0o755, now: T0, opId: 'op-1' });
      assert.equal(h.apply({ type: 'Mkdir', path: '/a', parents: false, mode: 0o755, now: T0 + 1, opId: 'op-1' }).ok, true);
      h.ok({ type: 'Rename', src: '/a', dst: '/b', overwrite: false, now: T0 + 2, opId: 'op-2' });
      const before = store.dump().inodes;
      assert.equal(h.apply({ type: 'Rename', src: '/a', dst: '/b', overwrite: false, now: T0 + 3, opId: 'op-2' }).ok, true);
      assert.deepEqual(store.dump().inodes, before);
      h.ok({ type: 'Delete', path: '/b', recursive: false, skipTrash: true, now: T0 + 4, opId: 'op-3' });
      assert.equal(h.apply({ type: 'Delete', path: '/b', recursive: false, skipTrash: true, now: T0 + 5, opId: 'op-3' }).ok, true);
      // Without an op id a repeat is a new operation.
      const r = h.apply({ type: 'Delete', path: '/b', recursive: false, skipTrash: true, now: T0 + 6 });
      assert.equal(r.ok === false && ErrorCode[r.code], 'NOT_FOUND');
    });

    it('remembers a failure too, scopes ids by command type, and forgets them after the retention time', () => {
      const first = h.apply({ type: 'Mkdir', path: '/x/y', parents: false, mode: 0o755, now: T0, opId: 'op-f' });
      assert.equal(first.ok, false);
      h.ok({ type: 'Mkdir', path: '/x', parents: false, mode: 0o755, now: T0 + 1 });
      assert.deepEqual(h.apply({ type: 'Mkdir', path: '/x/y', parents: false, mode: 0o755, now: T0 + 2, opId: 'op-f' }), first);
      h.ok({ type: 'Rename', src: '/x', dst: '/z', overwrite: false, now: T0 + 3, opId: 'op-f' });
      const later = T0 + OP_RESULT_RETENTION_MS + 10;
      h.ok({ type: 'Mkdir', path: '/other', parents: false, mode: 0o755, now: later, opId: 'op-g' }); // prunes
      h.ok({ type: 'Mkdir', path: '/z/y', parents: false, mode: 0o755, now: later + 1, opId: 'op-f' });
    });

    it('replaying the log into a fresh database gives the same rows, retry cache included', () => {
      h.ok({ type: 'Mkdir', path: '/a', parents: false, mode: 0o755, now: T0, opId: 'op-1' });
      h.apply({ type: 'Mkdir', path: '/a', parents: false, mode: 0o755, now: T0 + 1, opId: 'op-1' });
      const t2 = tempDir();
      const copy = openStore(t2.dir);
      try {
        h.log.forEach((data, i) => copy.apply(i + 1, data));
        assert.deepEqual(copy.dump(), store.dump());
      } finally {
        copy.close();
        t2.cleanup();
      }
    });
  });
});

describe('CreateFile with inline data (small files kept in the metadata)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: MetadataStore;
  let h: StoreHarness;
  beforeEach(() => {
    t = tempDir();
    store = openStore(t.dir);
    h = new StoreHarness(store);
  });
  afterEach(async () => {
    await store.close();
    t.cleanup();
  });
  const inline = (path: string, data: Buffer, over: Parameters<typeof createCmd>[2] = {}): ReturnType<typeof createCmd> =>
    createCmd(path, 'c1', { inline: data.toString('base64'), ...over });

  it('one entry creates the file complete and visible, with its bytes and no chunk', () => {
    const data = Buffer.from('hello, inline world');
    const { file } = h.ok(inline('/a/b/small', data));
    assert.equal(file.size, data.length);
    assert.equal(file.underConstruction, false);
    const got = store.getFile('/a/b/small');
    assert.deepEqual(got.chunks, []);
    assert.ok(got.inline?.equals(data));
    assert.equal(store.stat('/a/b/small').size, data.length);
    const empty = h.ok(inline('/empty', Buffer.alloc(0)));
    assert.equal(empty.file.size, 0);
    assert.equal(store.getFile('/empty').inline?.length, 0);
  });

  it('follows the create rules: ALREADY_EXISTS without overwrite, overwrite replaces either kind, and the bytes go with the inode', () => {
    h.ok(inline('/f', Buffer.from('one')));
    h.fails(inline('/f', Buffer.from('two')), ErrorCode.ALREADY_EXISTS);
    h.ok(inline('/f', Buffer.from('two'), { overwrite: true }));
    assert.equal(store.getFile('/f').inline?.toString(), 'two');
    writeFile(h, '/g', [5]);
    h.ok(inline('/g', Buffer.from('now inline'), { overwrite: true }));
    assert.equal(store.getFile('/g').inline?.toString(), 'now inline');
    const chunked = h.ok(createCmd('/f', 'c2', { overwrite: true }));
    h.ok({ type: 'CompleteFile', inode: chunked.file.inode, clientId: 'c2', now: T0, chunks: [] });
    assert.equal(store.getFile('/f').inline, undefined, 'a chunked file replaced the inline one');
    h.ok({ type: 'Delete', path: '/g', recursive: false, skipTrash: true, now: T0 });
    assert.deepEqual(store.dump().inlineData, [], 'no bytes outlive their inode');
  });

  it('reads the parent and the name once: attaching reuses them, and a new inode has one link without asking (CPU per create)', () => {
    h.ok(inline('/d/first', Buffer.from('x')));
    const ns = (store as unknown as { ns: Record<'byId' | 'child' | 'nlinkOf', (...a: unknown[]) => unknown> }).ns;
    const calls = { byId: 0, child: 0, nlinkOf: 0 };
    for (const m of ['byId', 'child', 'nlinkOf'] as const) {
      const orig = ns[m]!.bind(ns);
      ns[m] = (...a: unknown[]) => {
        calls[m]++;
        return orig(...a);
      };
    }
    const { file } = h.ok(inline('/d/second', Buffer.from('yy')));
    // byId: the root, the new row to attach, the answer; child: /d, then "second" in it.
    assert.deepEqual(calls, { byId: 3, child: 2, nlinkOf: 0 });
    assert.equal(file.size, 2);
    assert.deepEqual(store.stat('/d/second'), file, 'the answer is what a stat reads');
  });

  it('refuses more than MAX_INLINE_BYTES, inline with a first chunk, and append (the client rewrites instead)', () => {
    h.fails(inline('/big', Buffer.alloc(MAX_INLINE_BYTES + 1)), ErrorCode.INVALID_ARGUMENT);
    h.fails(inline('/both', Buffer.from('x'), { firstChunk: true }), ErrorCode.INVALID_ARGUMENT);
    const { file } = h.ok(inline('/s', Buffer.alloc(MAX_INLINE_BYTES, 1)));
    h.fails({ type: 'OpenAppend', inode: file.inode, clientId: 'c1', now: T0, leaseExpiry: T0 + LEASE }, ErrorCode.INVALID_ARGUMENT);
  });

  it('a command whose inline field is not base64 or is too long fails to decode', () => {
    const bad = (v: string): Uint8Array => Buffer.from(JSON.stringify({ v: 1, ...inline('/x', Buffer.alloc(0)), inline: v }));
    assert.throws(() => store.apply(store.appliedIndex() + 1, bad('not base64!')), CommandDecodeError);
    assert.throws(() => store.apply(store.appliedIndex() + 1, bad('A'.repeat(8000))), CommandDecodeError);
  });

  it('a conditional rewrite (replaces) replaces only the inode it read: the loser gets STALE_VERSION and changes nothing', () => {
    const first = h.ok(inline('/cas', Buffer.from('a'))).file.inode;
    // Two appenders read inode `first`; the first rewrite wins and makes a new inode.
    const won = h.ok(inline('/cas', Buffer.from('ab'), { replaces: first })).file.inode;
    assert.notEqual(won, first);
    const msg = h.fails(inline('/cas', Buffer.from('ac'), { replaces: first }), ErrorCode.STALE_VERSION); // and changes nothing
    assert.match(msg, /changed since it was read/);
    assert.equal(store.getFile('/cas').inline?.toString(), 'ab');
    // It reads again and retries against the new inode: both appends are there.
    h.ok(inline('/cas', Buffer.from('abc'), { replaces: won }));
    assert.equal(store.getFile('/cas').inline?.toString(), 'abc');
    // Nothing at the path, a directory, or an inode that is not a file: refused.
    h.fails(inline('/gone', Buffer.from('x'), { replaces: won }), ErrorCode.STALE_VERSION);
    h.ok({ type: 'Mkdir', path: '/d', parents: false, mode: 0o755, now: T0 });
    h.fails(inline('/d', Buffer.from('x'), { replaces: store.stat('/d').inode }), ErrorCode.STALE_VERSION);
    h.fails(inline('/cas', Buffer.from('x'), { replaces: 1 }), ErrorCode.INVALID_ARGUMENT);
  });

  it('a chunked conditional rewrite checks again when it attaches: CompleteFile and lease recovery refuse a replaced file', () => {
    const first = h.ok(inline('/grow', Buffer.from('small'))).file.inode;
    // A rewrite that outgrew the inline limit: a pending chunked file that may replace only `first`.
    const slow = h.ok(createCmd('/grow', 'c2', { replaces: first })).file.inode;
    const recovering = h.ok(createCmd('/grow2', 'c3', {})).file.inode; // unrelated, for contrast below
    // Its writer lease keeps other rewrites out meanwhile...
    h.fails(inline('/grow', Buffer.from('small+fast'), { replaces: first }), ErrorCode.LEASE_HELD);
    // ...but not a rename over the path: the file it read is gone.
    const fast = h.ok(inline('/other', Buffer.from('small+fast'))).file.inode;
    h.ok({ type: 'Rename', src: '/other', dst: '/grow', overwrite: true, now: T0 });
    h.fails({ type: 'CompleteFile', inode: slow, clientId: 'c2', now: T0, chunks: [] }, ErrorCode.STALE_VERSION);
    assert.equal(store.getFile('/grow').inline?.toString(), 'small+fast');
    // The slow writer dies instead of abandoning: lease recovery discards its file, not the winner.
    const result = h.ok({ type: 'RecoverLease', inode: slow, now: T0 + LEASE + 1, chunks: [] });
    assert.equal(result.outcome, 'discarded');
    assert.equal(store.stat('/grow').inode, fast);
    assert.equal(h.ok({ type: 'RecoverLease', inode: recovering, now: T0 + LEASE + 1, chunks: [] }).outcome, 'closed');
    // Unreplaced, the same kind of rewrite attaches over the inode it read.
    const again = h.ok(createCmd('/grow', 'c2', { replaces: fast })).file.inode;
    h.ok({ type: 'CompleteFile', inode: again, clientId: 'c2', now: T0, chunks: [] });
    assert.equal(store.stat('/grow').inode, again);
    assert.equal(store.getFile('/grow').inline, undefined);
  });

  it('a file with hard links keeps its inode when rewritten: only its first conversion to chunks passes the compare-and-swap', () => {
    const x = h.ok(inline('/h', Buffer.from('abc'))).file.inode;
    h.ok({ type: 'Link', src: '/h', dst: '/h2', now: T0 });
    // Two appenders read inode x; both convert it to a chunked file of the old bytes.
    const first = h.ok(createCmd('/h', 'c2', { replaces: x })).file.inode;
    h.ok({ type: 'CompleteFile', inode: first, clientId: 'c2', now: T0, chunks: [] });
    assert.equal(store.stat('/h').inode, x, 'adopted: the same inode, both names');
    assert.equal(store.getFile('/h2').inline, undefined, 'not inline any more');
    h.fails(createCmd('/h', 'c3', { replaces: x }), ErrorCode.STALE_VERSION);
    h.fails(inline('/h', Buffer.from('abcd'), { replaces: x }), ErrorCode.STALE_VERSION);
  });

  it('replaying the log into a fresh database gives the same rows, inline bytes included', () => {
    h.ok(inline('/r/one', Buffer.from('1')));
    h.ok(inline('/r/two', Buffer.from('22'), { overwrite: true }));
    h.ok({ type: 'Rename', src: '/r/one', dst: '/r/three', overwrite: false, now: T0 });
    const t2 = tempDir();
    const again = openStore(t2.dir);
    try {
      h.log.forEach((data, i) => again.apply(i + 1, data));
      assert.deepEqual(again.dump(), store.dump());
    } finally {
      again.close();
      t2.cleanup();
    }
  });
});
