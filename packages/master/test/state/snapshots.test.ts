import assert from 'node:assert/strict';
import { ErrorCode, FileType } from '@dfs/proto';
import type { Caller } from '../../src/auth/caller.js';
import type { Command } from '../../src/state/commands.js';
import { MetadataStore } from '../../src/state/metadata-store.js';
import { diffTrees } from '../../src/state/snapshots.js';
import { LEASE, StoreHarness, T0, openStore, tempDir, writeFile } from '../helpers.js';

const ALICE: Caller = { user: 'alice', groups: ['alice'], superuser: false };

describe('directory snapshots (the state machine)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: MetadataStore;
  let h: StoreHarness;
  const allow = (path: string, caller?: Caller): Command => ({ type: 'AllowSnapshot', path, allow: true, now: T0, ...(caller ? { caller } : {}) });
  const create = (path: string, name: string, caller?: Caller): Command => ({ type: 'CreateSnapshot', path, name, now: T0 + 1, ...(caller ? { caller } : {}) });
  const del = (path: string, recursive = true): Command => ({ type: 'Delete', path, recursive, skipTrash: true, now: T0 + 2 });

  beforeEach(() => {
    t = tempDir();
    store = openStore(t.dir);
    h = new StoreHarness(store);
    h.ok({ type: 'Mkdir', path: '/d/sub', parents: true, mode: 0o755, now: T0 });
  });
  afterEach(async () => {
    await store.close();
    t.cleanup();
  });

  it('a snapshot reads back the tree as it was after delete, overwrite and rename; its chunks stay held until it is deleted', () => {
    const a = writeFile(h, '/d/a', [1024, 100]);
    const b = writeFile(h, '/d/sub/b', [50]);
    const c = writeFile(h, '/d/c', [10]);
    h.ok(allow('/d'));
    const r = h.ok(create('/d', 's1'));
    assert.equal(r.path, '/d/.snapshot/s1');

    h.ok(del('/d/a'));
    writeFile(h, '/d/sub/b', [7], 'c1', true); // overwrite: a new inode and new chunks
    h.ok({ type: 'Rename', src: '/d/c', dst: '/d/sub/c2', overwrite: false, now: T0 + 3 });
    h.ok({ type: 'Mkdir', path: '/d/new', parents: false, mode: 0o755, now: T0 + 4 });

    assert.equal(store.stat('/d/.snapshot/s1/a').size, 1124);
    assert.deepEqual(store.getFile('/d/.snapshot/s1/a').chunks.map((x) => [x.handle, x.length]), a.chunks.map((x) => [x.handle, x.length]));
    assert.deepEqual(store.getFile('/d/.snapshot/s1/sub/b').chunks.map((x) => x.handle), b.chunks.map((x) => x.handle));
    assert.equal(store.stat('/d/.snapshot/s1').type, FileType.DIRECTORY);
    assert.deepEqual(store.list('/d/.snapshot/s1', '', 0).entries.map((e) => e.name), ['a', 'c', 'sub']);
    assert.deepEqual(store.list('/d/.snapshot', '', 0).entries.map((e) => [e.name, e.path]), [['s1', '/d/.snapshot/s1']]);
    assert.equal(store.getFile('/d/sub/b').file.size, 7, 'the live tree is unaffected');

    // The deleted file's chunks are gone from the live table but still held (GC keeps them).
    for (const x of [...a.chunks, ...b.chunks]) assert.deepEqual(store.chunkFacts(x.handle), { version: 1, committed: true, replication: 3 });

    assert.deepEqual(store.snapshotDiff('/d', 's1', undefined), [
      { kind: 'deleted', path: './a' },
      { kind: 'renamed', path: './c', target: './sub/c2' },
      { kind: 'created', path: './new' },
      { kind: 'modified', path: './sub/b' },
    ]);
    h.ok(create('/d', 's2'));
    assert.deepEqual(store.snapshotDiff('/d', 's1', 's2'), store.snapshotDiff('/d', 's1', undefined));
    assert.deepEqual(store.snapshotDiff('/d', 's2', undefined), []);

    h.ok({ type: 'DeleteSnapshot', path: '/d', name: 's1', now: T0 + 5 });
    h.ok({ type: 'DeleteSnapshot', path: '/d', name: 's2', now: T0 + 5 });
    for (const x of [...a.chunks, ...b.chunks]) assert.equal(store.chunkFacts(x.handle), undefined, `chunk ${x.handle} is garbage now`);
    assert.ok(store.chunkFacts(c.chunks[0]!.handle), 'a live file keeps its chunk');
    assert.equal(codeOf(() => store.stat('/d/.snapshot/s1/a')), 'NOT_FOUND');
  });

  it('space consumed (quotas, dfs count -q) counts chunks only a snapshot holds, until the snapshot is deleted', () => {
    const a = writeFile(h, '/d/a', [1000, 24]);
    h.ok(allow('/d'));
    const before = store.contentSummary('/d').usage.space;
    assert.equal(before, 1024 * 3);
    h.ok(create('/d', 's1'));
    assert.equal(store.contentSummary('/d').usage.space, before, 'a snapshot costs nothing while the tree is unchanged');
    h.ok(del('/d/a'));
    assert.equal(store.contentSummary('/d').usage.space, before, 'the deleted file\'s chunks are still held');
    assert.equal(store.contentSummary('/').usage.space, before);
    assert.equal(store.contentSummary('/d').usage.files, 0);
    h.ok({ type: 'DeleteSnapshot', path: '/d', name: 's1', now: T0 });
    assert.equal(store.contentSummary('/d').usage.space, 0);
    assert.ok(a.chunks.length === 2);
  });

  it('snapshot paths are read-only, nested snapshottable directories and deleting held snapshots are refused', () => {
    h.ok(allow('/d'));
    h.ok(create('/d', 's1'));
    h.fails({ type: 'Mkdir', path: '/d/.snapshot/s1/x', parents: true, mode: 0o755, now: T0 }, ErrorCode.INVALID_PATH);
    h.fails({ type: 'CreateFile', path: '/d/.snapshot/f', overwrite: false, replication: 3, mode: 0o644, chunkSize: 1024, clientId: 'c1', now: T0, leaseExpiry: T0 + LEASE }, ErrorCode.INVALID_PATH);
    h.fails({ type: 'Rename', src: '/d/sub', dst: '/d/.snapshot/s9', overwrite: false, now: T0 }, ErrorCode.INVALID_PATH);
    h.fails({ type: 'Delete', path: '/d/.snapshot/s1', recursive: true, skipTrash: true, now: T0 }, ErrorCode.INVALID_PATH);
    h.fails(del('/d'), ErrorCode.NOT_EMPTY);
    h.fails({ type: 'Delete', path: '/d', recursive: true, skipTrash: false, now: T0 }, ErrorCode.NOT_EMPTY);
    h.fails({ type: 'AllowSnapshot', path: '/d', allow: false, now: T0 }, ErrorCode.NOT_EMPTY);
    h.fails(allow('/d/sub'), ErrorCode.INVALID_ARGUMENT);
    h.fails(allow('/'), ErrorCode.INVALID_ARGUMENT);
    h.fails(create('/d', 's1'), ErrorCode.ALREADY_EXISTS);
    h.fails(create('/d/sub', 'x'), ErrorCode.INVALID_ARGUMENT);
    h.fails(create('/d', 'a/b'), ErrorCode.INVALID_ARGUMENT);
    h.fails(allow('/d', ALICE), ErrorCode.PERMISSION_DENIED);
    h.fails(create('/d', 'mine', ALICE), ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'DeleteSnapshot', path: '/d', name: 's1', now: T0 });
    h.ok({ type: 'AllowSnapshot', path: '/d', allow: false, now: T0 });
    h.ok(del('/d'));
  });

  it('replaying the log gives the same snapshot tables', () => {
    writeFile(h, '/d/a', [10, 20]);
    h.ok(allow('/d'));
    h.ok(create('/d', 's1'));
    h.ok(del('/d/a'));
    h.ok(create('/d', 's2'));
    const replica = openStore(t.dir, 'replay.db');
    try {
      h.log.forEach((data, i) => replica.apply(i + 1, data));
      assert.deepEqual(replica.dump(), store.dump());
      assert.ok((store.dump().snapshots as unknown[]).length > 4);
    } finally {
      replica.close();
    }
  });

  it('diffTrees reports an overwrite in place as modified and a directory replaced by a file as deleted + created', () => {
    const row = (id: number, parent: number, name: string, type: number, chunks = '') => [id, { id, parent, name, type, mode: 0o644, mtime: 0, size: 0, owner: 'o', grp: 'g', chunks }] as const;
    const from = new Map([row(1, 0, '', 2), row(2, 1, 'f', 1, '1:1:5'), row(3, 1, 'x', 2)]);
    const to = new Map([row(1, 0, '', 2), row(4, 1, 'f', 1, '9:1:5'), row(5, 1, 'x', 1, '')]);
    assert.deepEqual(diffTrees(1, from, to), [
      { kind: 'modified', path: './f' },
      { kind: 'created', path: './x' },
      { kind: 'deleted', path: './x' },
    ]);
  });
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return ErrorCode[(err as { code: ErrorCode }).code]!;
  }
  return 'no error';
}
