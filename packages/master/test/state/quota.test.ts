import assert from 'node:assert/strict';
import { ErrorCode } from '@dfs/proto';
import type { Caller } from '../../src/auth/caller.js';
import type { MetadataStore } from '../../src/state/metadata-store.js';
import { CHUNK, LEASE, StoreHarness, T0, createCmd, openStore, tempDir, writeFile } from '../helpers.js';

const ALICE: Caller = { user: 'alice', groups: ['alice'], superuser: false };
const REPL = 3; // createCmd's replication

describe('quotas (HDFS semantics, enforced in apply)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: MetadataStore;
  let h: StoreHarness;
  const quota = (path: string, q: { files?: number; space?: number; clear?: boolean }): void => {
    h.ok({ type: 'SetQuota', path, ...(q.files !== undefined ? { files: q.files } : {}), ...(q.space !== undefined ? { space: q.space } : {}), clear: q.clear ?? false, now: T0 });
  };
  const addChunk = (inode: number, clientId: string, index: number) => ({ type: 'AddChunk' as const, inode, clientId, index, now: T0, leaseExpiry: T0 + LEASE });

  beforeEach(() => {
    t = tempDir();
    store = openStore(t.dir);
    h = new StoreHarness(store);
    h.ok({ type: 'Mkdir', path: '/q', parents: false, mode: 0o777, now: T0 });
  });
  afterEach(async () => {
    await store.close();
    t.cleanup();
  });

  it('name quota counts the directory itself, files and directories; the next name is refused and nothing changes', () => {
    quota('/q', { files: 4 });
    writeFile(h, '/q/a', [1]);
    h.ok({ type: 'Mkdir', path: '/q/d', parents: false, mode: 0o755, now: T0 });
    writeFile(h, '/q/d/b', [1]);
    const msg = h.fails(createCmd('/q/c'), ErrorCode.QUOTA_EXCEEDED);
    assert.match(msg, /name quota of \/q exceeded: quota 4, would use 5/);
    h.fails({ type: 'Mkdir', path: '/q/e', parents: false, mode: 0o755, now: T0 }, ErrorCode.QUOTA_EXCEEDED);
    h.fails(createCmd('/q/x/y/z'), ErrorCode.QUOTA_EXCEEDED); // parents created by the create count too
    const s = store.contentSummary('/q');
    assert.deepEqual([s.usage.names, s.usage.files, s.usage.dirs, s.quota?.files], [4, 2, 2, 4]);
    // a delete frees a name; an overwrite needs none
    h.ok({ type: 'Delete', path: '/q/a', recursive: false, skipTrash: true, now: T0 });
    writeFile(h, '/q/c', [1]);
    writeFile(h, '/q/c', [2], 'c1', true);
  });

  it('inline small files count against the space quota: bytes x replication, the next one refused', () => {
    quota('/q', { space: 100 * REPL });
    const inline = (path: string, n: number) => ({ ...createCmd(path), inline: Buffer.alloc(n, 7).toString('base64') });
    h.ok(inline('/q/a', 60));
    assert.equal(store.contentSummary('/q').usage.space, 60 * REPL);
    const msg = h.fails(inline('/q/b', 41), ErrorCode.QUOTA_EXCEEDED);
    assert.match(msg, /space quota of \/q exceeded/);
    h.ok(inline('/q/b', 40));
    assert.equal(store.contentSummary('/q').usage.space, 100 * REPL);
  });

  it('space quota counts bytes x replication, chunks in flight at full chunk size, exactly to the byte', () => {
    quota('/q', { space: 2 * CHUNK * REPL });
    const { file } = h.ok(createCmd('/q/f'));
    h.ok(addChunk(file.inode, 'c1', 0));
    h.ok(addChunk(file.inode, 'c1', 1));
    const msg = h.fails(addChunk(file.inode, 'c1', 2), ErrorCode.QUOTA_EXCEEDED);
    assert.match(msg, /space quota of \/q exceeded/);
    assert.equal(store.contentSummary('/q').usage.space, 2 * CHUNK * REPL);
    // completed with short chunks: only the real bytes stay charged
    const chunks = store.chunksOf(file.inode).map((c, i) => ({ handle: c.handle, length: i === 0 ? CHUNK : 100, crc32c: 1 }));
    h.ok({ type: 'CompleteFile', inode: file.inode, clientId: 'c1', chunks, now: T0 });
    assert.equal(store.contentSummary('/q').usage.space, (CHUNK + 100) * REPL);
    assert.equal(store.contentSummary('/q').usage.length, CHUNK + 100);
    // a second writer cannot take a full chunk: 1024 - 100 bytes of room are left per replica
    const { file: g } = h.ok(createCmd('/q/g', 'c2'));
    h.fails(addChunk(g.inode, 'c2', 0), ErrorCode.QUOTA_EXCEEDED);
  });

  it('writers racing for the last chunk of a quota: exactly as many chunks as fit are allocated', () => {
    quota('/q', { space: 3 * CHUNK * REPL });
    const files = [1, 2, 3, 4, 5].map((i) => h.ok(createCmd(`/q/f${i}`, `c${i}`)).file.inode as number);
    // interleaved as a log orders concurrent writers
    const results = files.map((inode, i) => h.apply(addChunk(inode, `c${i + 1}`, 0)));
    assert.deepEqual(results.map((r) => r.ok), [true, true, true, false, false]);
    assert.equal(store.contentSummary('/q').usage.space, 3 * CHUNK * REPL);
  });

  it('a batched allocation shrinks to what fits under the quota instead of failing whole', () => {
    quota('/q', { space: 3 * CHUNK * REPL });
    const { file } = h.ok(createCmd('/q/big'));
    const r = h.ok({ ...addChunk(file.inode, 'c1', 0), count: 8 });
    assert.equal(1 + (r.more?.length ?? 0), 3, 'three chunks fit');
    h.fails(addChunk(file.inode, 'c1', 3), ErrorCode.QUOTA_EXCEEDED);
  });

  it('an append charges the last chunk in full while the file is open', () => {
    const { inode } = writeFile(h, '/q/log', [100]);
    quota('/q', { space: CHUNK * REPL });
    h.ok({ type: 'OpenAppend', inode, clientId: 'c1', now: T0, leaseExpiry: T0 + LEASE });
    assert.equal(store.contentSummary('/q').usage.space, CHUNK * REPL);
    h.fails(addChunk(inode, 'c1', 1), ErrorCode.QUOTA_EXCEEDED);
    // a second file cannot be opened for append beyond the quota either
    h.ok({ type: 'SetQuota', path: '/q', clear: true, now: T0 });
    const other = writeFile(h, '/q/other', [10]);
    quota('/q', { space: CHUNK * REPL + 10 * REPL });
    h.fails({ type: 'OpenAppend', inode: other.inode, clientId: 'c2', now: T0, leaseExpiry: T0 + LEASE }, ErrorCode.QUOTA_EXCEEDED);
  });

  it('setrep up and renames into a directory are checked; renames inside it and deletes are not', () => {
    writeFile(h, '/q/f', [CHUNK]);
    quota('/q', { space: CHUNK * REPL });
    h.fails({ type: 'SetReplication', path: '/q/f', replication: REPL + 1, now: T0 }, ErrorCode.QUOTA_EXCEEDED);
    h.ok({ type: 'SetReplication', path: '/q/f', replication: 1, now: T0 });
    assert.equal(store.contentSummary('/q').usage.space, CHUNK);
    writeFile(h, '/out', [CHUNK]);
    h.fails({ type: 'Rename', src: '/out', dst: '/q/in', overwrite: false, now: T0 }, ErrorCode.QUOTA_EXCEEDED);
    quota('/q', { files: 2 }); // /q and f: full
    h.ok({ type: 'Rename', src: '/q/f', dst: '/q/g', overwrite: false, now: T0 });
    quota('/q', { files: 1 }); // below usage: growing is refused, shrinking is not
    h.fails({ type: 'Mkdir', path: '/q/d', parents: false, mode: 0o755, now: T0 }, ErrorCode.QUOTA_EXCEEDED);
    h.ok({ type: 'Delete', path: '/q/g', recursive: false, skipTrash: true, now: T0 });
  });

  it('nested quotas: the nearest and every ancestor are enforced; clear removes both limits', () => {
    h.ok({ type: 'Mkdir', path: '/q/inner', parents: false, mode: 0o777, now: T0 });
    quota('/q', { files: 3 });
    quota('/q/inner', { files: 10 });
    writeFile(h, '/q/inner/a', [1]);
    h.fails(createCmd('/q/inner/b'), ErrorCode.QUOTA_EXCEEDED);
    quota('/q', { clear: true });
    writeFile(h, '/q/inner/b', [1]);
    assert.equal(store.contentSummary('/q').quota, undefined);
    h.fails({ type: 'SetQuota', path: '/q/inner/a', files: 5, clear: false, now: T0 }, ErrorCode.NOT_A_DIRECTORY);
    h.fails({ type: 'SetQuota', path: '/q', files: 5, clear: false, now: T0, caller: ALICE }, ErrorCode.PERMISSION_DENIED);
  });
});
