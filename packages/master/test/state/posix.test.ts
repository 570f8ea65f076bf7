import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, FileType } from '@dfs/proto';
import type { Caller } from '../../src/auth/caller.js';
import type { Command } from '../../src/state/commands.js';
import { MetadataStore } from '../../src/state/metadata-store.js';
import { SCHEMA_VERSION } from '../../src/state/schema.js';
import { StoreHarness, T0, createCmd, openStore, tempDir, writeFile } from '../helpers.js';

const ALICE: Caller = { user: 'alice', groups: ['alice'], superuser: false };
const ROOT: Caller = { user: 'root', groups: ['supergroup'], superuser: true };

describe('POSIX namespace: symlinks, hard links, special files, ctime, set-id bits (state/posix.ts)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: MetadataStore;
  let h: StoreHarness;
  const mkdir = (path: string, now = T0): Command => ({ type: 'Mkdir', path, parents: false, mode: 0o777, now });
  const link = (src: string, dst: string, now = T0 + 10, caller: Caller = ROOT): Command => ({ type: 'Link', src, dst, now, caller });
  const del = (path: string, now = T0 + 20, recursive = false): Command => ({ type: 'Delete', path, recursive, skipTrash: false, now, caller: ROOT });
  const rename = (src: string, dst: string, now = T0 + 30): Command => ({ type: 'Rename', src, dst, overwrite: true, now, caller: ROOT });
  const handles = (inode: number): number[] => store.chunksOf(inode).map((c) => c.handle);

  beforeEach(() => {
    t = tempDir();
    store = openStore(t.dir);
    h = new StoreHarness(store);
    h.ok(mkdir('/d'));
    h.ok(mkdir('/e'));
  });
  afterEach(async () => {
    await store.close();
    t.cleanup();
  });

  it('a symlink stores its target as given; stat does not follow it, reading it is refused with what it is', () => {
    h.ok({ type: 'Symlink', path: '/d/l', target: '../e/nowhere', now: T0 + 1, caller: ROOT });
    const s = store.stat('/d/l');
    assert.equal(s.type, FileType.SYMLINK);
    assert.equal(s.symlinkTarget, '../e/nowhere');
    assert.equal(s.size, '../e/nowhere'.length);
    assert.equal(s.nlink, 1);
    assert.equal(s.ctimeMs, T0 + 1);
    assert.deepEqual(store.list('/d', '', 10).entries.map((e) => [e.name, e.type]), [['l', FileType.SYMLINK]]);
    assert.throws(() => store.getFile('/d/l'), (e: { code: ErrorCode; message: string }) => e.code === ErrorCode.INVALID_ARGUMENT && /symbolic link to \.\.\/e\/nowhere/.test(e.message));
    // The master never walks through one: a path below it is not a directory.
    assert.throws(() => store.stat('/d/l/x'), (e: { code: ErrorCode }) => e.code === ErrorCode.NOT_A_DIRECTORY);
    h.fails({ type: 'Symlink', path: '/d/l', target: 'x', now: T0, caller: ROOT }, ErrorCode.ALREADY_EXISTS);
    h.fails({ type: 'Symlink', path: '/d/m', target: '', now: T0, caller: ROOT }, ErrorCode.NOT_FOUND);
    h.fails({ type: 'Symlink', path: '/d/m', target: 'x'.repeat(4096), now: T0, caller: ROOT }, ErrorCode.NAME_TOO_LONG);
    h.fails({ type: 'Symlink', path: '/nodir/m', target: 'x', now: T0, caller: ROOT }, ErrorCode.NOT_FOUND);
    h.ok(del('/d/l'));
    assert.throws(() => store.stat('/d/l'));
  });

  it('a hard link shares the inode: same number, link count 2 on both names, data kept until the last name goes', () => {
    const { inode } = writeFile(h, '/d/a', [100]);
    const chunks = handles(inode);
    const r = h.ok(link('/d/a', '/e/b'));
    assert.equal(r.file.inode, inode);
    assert.equal(r.file.nlink, 2);
    assert.equal(store.stat('/d/a').nlink, 2);
    assert.equal(store.stat('/e/b').inode, inode);
    assert.equal(store.stat('/e/b').size, 100);
    assert.equal(store.stat('/d/a').ctimeMs, T0 + 10, 'link changes the inode');
    assert.deepEqual(store.list('/e', '', 10).entries.map((e) => [e.name, e.inode, e.nlink]), [['b', inode, 2]]);
    assert.equal(store.getFile('/e/b').chunks.length, 1);
    // The first name goes: the second keeps the inode and its chunks.
    h.ok(del('/d/a', T0 + 20));
    assert.throws(() => store.stat('/d/a'));
    const b = store.stat('/e/b');
    assert.deepEqual([b.inode, b.nlink, b.ctimeMs], [inode, 1, T0 + 20]);
    assert.deepEqual(handles(inode), chunks);
    // The last name goes (to the trash, as any delete): no link row is left behind.
    h.ok({ ...del('/e/b'), skipTrash: true } as Command);
    assert.equal(store.inode(inode), undefined);
    assert.deepEqual(store.dump().links, []);
  });

  it('a directory lists its hard links among its entries, in name order, page by page', () => {
    const { inode } = writeFile(h, '/d/src', [1]);
    writeFile(h, '/e/a', [1]);
    writeFile(h, '/e/c', [1]);
    h.ok(link('/d/src', '/e/b'));
    h.ok(link('/d/src', '/e/d'));
    h.ok({ type: 'Mkdir', path: '/e/e', parents: false, mode: 0o755, now: T0 });
    const page1 = store.list('/e', '', 2);
    assert.deepEqual([page1.entries.map((e) => e.name), page1.hasMore], [['a', 'b'], true]);
    const page2 = store.list('/e', 'b', 2);
    assert.deepEqual(page2.entries.map((e) => [e.name, e.nlink]), [['c', 1], ['d', 3]]);
    const page3 = store.list('/e', 'd', 2);
    assert.deepEqual([page3.entries.map((e) => [e.name, e.nlink]), page3.hasMore], [[['e', 2]], false]);
    assert.equal(page2.entries[1]!.inode, inode);
    assert.equal(store.stat('/e').nlink, 3);
  });

  it('link refuses directories, taken names and missing sources', () => {
    writeFile(h, '/d/a', [1]);
    h.fails(link('/d', '/e/x'), ErrorCode.IS_A_DIRECTORY);
    h.fails(link('/d/a', '/e'), ErrorCode.ALREADY_EXISTS);
    h.fails(link('/d/missing', '/e/x'), ErrorCode.NOT_FOUND);
    h.fails(link('/d/a', '/nodir/x'), ErrorCode.NOT_FOUND);
    h.ok(link('/d/a', '/e/x'));
    h.fails(link('/d/a', '/e/x'), ErrorCode.ALREADY_EXISTS);
    // A name taken by a link is taken for every create.
    h.fails({ type: 'Mkdir', path: '/e/x', parents: false, mode: 0o755, now: T0 }, ErrorCode.ALREADY_EXISTS);
    h.fails(createCmd('/e/x'), ErrorCode.ALREADY_EXISTS);
  });

  it('a new version written through one name is seen through every name (the inode and its mode stay)', () => {
    const { inode } = writeFile(h, '/d/a', [100]);
    h.ok({ type: 'SetAttr', path: '/d/a', mode: 0o600, now: T0, caller: ROOT });
    h.ok(link('/d/a', '/e/b'));
    const old = handles(inode);
    writeFile(h, '/e/b', [7, 5], 'c2', true);
    for (const p of ['/d/a', '/e/b']) {
      const s = store.stat(p);
      assert.deepEqual([s.inode, s.size, s.nlink, s.mode], [inode, 12, 2, 0o600], p);
    }
    assert.equal(store.getFile('/d/a').chunks.length, 2);
    assert.ok(handles(inode).every((c) => !old.includes(c)), 'the old chunks are garbage');
    // Through the inode row's own name too, and as an inline small file.
    writeFile(h, '/d/a', [3], 'c3', true);
    assert.deepEqual([store.stat('/e/b').inode, store.stat('/e/b').size], [inode, 3]);
    h.ok(createCmd('/d/a', 'c4', { overwrite: true, inline: Buffer.from('inline').toString('base64') }));
    h.ok(createCmd('/e/b', 'c5', { overwrite: true, inline: Buffer.from('inline2').toString('base64') }));
    assert.deepEqual([store.stat('/d/a').inode, store.stat('/d/a').size, store.stat('/d/a').nlink], [inode, 7, 2]);
    assert.equal(store.getFile('/d/a').inline?.toString(), 'inline2');
    assert.deepEqual(handles(inode), []);
  });

  it('rename moves one name; renaming a name over another name of the same file does nothing', () => {
    const { inode } = writeFile(h, '/d/a', [3]);
    h.ok(link('/d/a', '/d/b'));
    h.ok(rename('/d/b', '/e/c'));
    assert.deepEqual(store.list('/d', '', 10).entries.map((e) => e.name), ['a']);
    assert.equal(store.stat('/e/c').inode, inode);
    assert.equal(store.stat('/e/c').ctimeMs, T0 + 30);
    h.ok(rename('/d/a', '/e/c'));
    assert.equal(store.stat('/d/a').nlink, 2, 'POSIX: same file, nothing happens');
    // Another file renamed over one name: the inode lives on under the other.
    writeFile(h, '/d/z', [9]);
    h.ok(rename('/d/z', '/d/a'));
    assert.deepEqual([store.stat('/e/c').inode, store.stat('/e/c').nlink], [inode, 1]);
    assert.notEqual(store.stat('/d/a').inode, inode);
  });

  it('a recursive delete keeps files that still have a name outside the directory', () => {
    const { inode: inner } = writeFile(h, '/d/inner', [4]);
    const { inode: outer } = writeFile(h, '/e/outer', [5]);
    h.ok(link('/d/inner', '/e/inner2'));
    h.ok(link('/e/outer', '/d/outer2'));
    h.ok({ ...del('/d', T0 + 40, true), skipTrash: true } as Command);
    assert.deepEqual(store.list('/e', '', 10).entries.map((e) => [e.name, e.inode, e.nlink]), [['inner2', inner, 1], ['outer', outer, 1]]);
    assert.equal(handles(inner).length, 1);
    assert.equal(store.getFile('/e/inner2').file.size, 4);
  });

  it('a directory has 2 + its subdirectories links, and removing a non-empty one is refused', () => {
    h.ok(mkdir('/d/s1'));
    h.ok(mkdir('/d/s2'));
    writeFile(h, '/d/f', [1]);
    assert.equal(store.stat('/d').nlink, 4);
    h.ok(link('/d/f', '/d/g'));
    h.fails({ ...del('/d'), skipTrash: true } as Command, ErrorCode.NOT_EMPTY);
  });

  it('FIFOs and sockets are anyone\'s; device nodes the superuser\'s, with their rdev', () => {
    h.ok({ type: 'SetAttr', path: '/d', mode: 0o777, now: T0, caller: ROOT });
    h.ok({ type: 'Mknod', path: '/d/p', kind: FileType.FIFO, mode: 0o640, rdev: 99, now: T0 + 2, caller: ALICE });
    const p = store.stat('/d/p');
    assert.deepEqual([p.type, p.mode, p.rdev, p.owner, p.size], [FileType.FIFO, 0o640, 0, 'alice', 0]);
    h.ok({ type: 'Mknod', path: '/d/s', kind: FileType.SOCKET, mode: 0o600, rdev: 0, now: T0, caller: ALICE });
    h.fails({ type: 'Mknod', path: '/d/c', kind: FileType.CHAR_DEVICE, mode: 0o600, rdev: 0x0103, now: T0, caller: ALICE }, ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'Mknod', path: '/d/c', kind: FileType.CHAR_DEVICE, mode: 0o600, rdev: 0x0103, now: T0, caller: ROOT });
    h.ok({ type: 'Mknod', path: '/d/b', kind: FileType.BLOCK_DEVICE, mode: 0o600, rdev: 0x0801, now: T0, caller: ROOT });
    assert.deepEqual([store.stat('/d/c').type, store.stat('/d/c').rdev], [FileType.CHAR_DEVICE, 0x0103]);
    assert.equal(store.stat('/d/b').type, FileType.BLOCK_DEVICE);
    h.fails({ type: 'Mknod', path: '/d/f', kind: FileType.FILE, mode: 0o600, rdev: 0, now: T0, caller: ROOT }, ErrorCode.INVALID_ARGUMENT);
    h.fails({ type: 'Mknod', path: '/d/p', kind: FileType.FIFO, mode: 0o600, rdev: 0, now: T0, caller: ROOT }, ErrorCode.ALREADY_EXISTS);
    // A special file can be linked, renamed and removed like a file.
    h.ok(link('/d/p', '/e/p2'));
    assert.equal(store.stat('/e/p2').nlink, 2);
    h.ok(rename('/d/s', '/e/s'));
    h.ok(del('/d/p'));
    assert.equal(store.stat('/e/p2').nlink, 1);
  });

  it('ctime follows chmod, chown, rename, write, and the parent\'s mtime and ctime follow its entries', () => {
    writeFile(h, '/d/a', [1]);
    const at = (path: string): [number, number] => [store.stat(path).mtimeMs, store.stat(path).ctimeMs];
    assert.deepEqual(at('/d/a'), [T0 + 1, T0 + 1], 'the write (CompleteFile) sets both');
    h.ok({ type: 'SetAttr', path: '/d/a', mode: 0o600, now: T0 + 2, caller: ROOT });
    assert.deepEqual(at('/d/a'), [T0 + 1, T0 + 2], 'chmod: ctime only');
    h.ok({ type: 'SetAttr', path: '/d/a', owner: 'alice', now: T0 + 3, caller: ROOT });
    assert.deepEqual(at('/d/a'), [T0 + 1, T0 + 3], 'chown: ctime only');
    h.ok({ type: 'SetAttr', path: '/d/a', mtime: T0 - 500, atime: T0 - 500, now: T0 + 3, caller: ROOT });
    assert.deepEqual(at('/d/a'), [T0 - 500, T0 + 3], 'utimes: the given mtime, ctime now');
    writeFile(h, '/d/a', [2], 'c2', true);
    assert.deepEqual(at('/d/a'), [T0 + 1, T0 + 1], 'a new version: mtime and ctime of its completion');
    h.ok({ type: 'SetAttr', path: '/d/a', mtime: T0 - 500, now: T0 + 3, caller: ROOT });
    h.ok(rename('/d/a', '/e/a', T0 + 4));
    assert.deepEqual(at('/e/a'), [T0 - 500, T0 + 4], 'rename: ctime');
    assert.deepEqual(at('/d'), [T0 + 4, T0 + 4]);
    assert.deepEqual(at('/e'), [T0 + 4, T0 + 4]);
    h.ok({ type: 'Symlink', path: '/d/l', target: 'x', now: T0 + 5, caller: ROOT });
    assert.deepEqual(at('/d'), [T0 + 5, T0 + 5]);
  });

  it('set-id bits: chown of a file clears them (not of a directory); an overwrite by a non-superuser clears them', () => {
    writeFile(h, '/d/a', [1]);
    h.ok({ type: 'SetAttr', path: '/d/a', mode: 0o6755, now: T0, caller: ROOT });
    h.ok({ type: 'SetAttr', path: '/d/a', owner: 'alice', now: T0, caller: ROOT });
    assert.equal(store.stat('/d/a').mode, 0o755);
    h.ok({ type: 'SetAttr', path: '/d/a', mode: 0o2745, now: T0, caller: ROOT });
    h.ok({ type: 'SetAttr', path: '/d/a', group: 'alice', now: T0, caller: ROOT });
    assert.equal(store.stat('/d/a').mode, 0o2745, 'S_ISGID without group-execute stays (Linux)');
    h.ok({ type: 'SetAttr', path: '/d', mode: 0o2777, now: T0, caller: ROOT });
    h.ok({ type: 'SetAttr', path: '/d', owner: 'alice', now: T0, caller: ROOT });
    assert.equal(store.stat('/d').mode, 0o2777);
    h.ok({ type: 'SetAttr', path: '/d/a', mode: 0o4766, now: T0, caller: ROOT });
    const { file } = h.ok(createCmd('/d/a', 'w1', { overwrite: true, mode: 0o4766, caller: ALICE }));
    assert.equal(file.mode, 0o766);
  });

  it('opens a schema 2 database: adds the columns and the links table, ctime starts as mtime', () => {
    writeFile(h, '/d/a', [1]);
    store.close();
    const path = join(t.dir, 'meta.db');
    const db = new Database(path);
    db.exec('DROP TRIGGER links_gone; DROP TABLE links; ALTER TABLE inodes DROP COLUMN ctime; ALTER TABLE inodes DROP COLUMN target; ALTER TABLE inodes DROP COLUMN rdev');
    // Snapshot tables came in schema 2 without a bump: a schema-2 database may hold them.
    db.exec('ALTER TABLE snapshot_inodes DROP COLUMN ctime; ALTER TABLE snapshot_inodes DROP COLUMN target; ALTER TABLE snapshot_inodes DROP COLUMN rdev');
    db.prepare(`UPDATE meta SET value = 2 WHERE key = 'schema_version'`).run();
    db.close();
    store = new MetadataStore(path);
    h = new StoreHarness(store);
    assert.equal(store.counter('applied_index') > 0, true);
    assert.equal((store.dump().meta as Array<{ key: string; value: number }>).find((m) => m.key === 'schema_version')?.value, SCHEMA_VERSION);
    assert.equal(store.stat('/d/a').ctimeMs, T0 + 1);
    h.ok(link('/d/a', '/e/b'));
    assert.equal(store.stat('/e/b').nlink, 2);
    // Snapshots copy the new columns: a symlink reads back from one with its target.
    h.ok({ type: 'Symlink', path: '/d/l', target: 'a', now: T0 + 7, caller: ROOT });
    h.ok({ type: 'AllowSnapshot', path: '/d', allow: true, now: T0, caller: ROOT });
    h.ok({ type: 'CreateSnapshot', path: '/d', name: 's1', now: T0 + 8, caller: ROOT });
    const l = store.stat('/d/.snapshot/s1/l');
    assert.deepEqual([l.type, l.symlinkTarget, l.ctimeMs], [FileType.SYMLINK, 'a', T0 + 7]);
    assert.throws(() => store.getFile('/d/.snapshot/s1/l'), (e: { code: ErrorCode }) => e.code === ErrorCode.INVALID_ARGUMENT);
  });
});
