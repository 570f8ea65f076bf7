import assert from 'node:assert/strict';
import { ErrorCode } from '@dfs/proto';
import type { Caller } from '../../src/auth/caller.js';
import type { Command } from '../../src/state/commands.js';
import type { MetadataStore } from '../../src/state/metadata-store.js';
import { LEASE, StoreHarness, T0, createCmd, openStore, tempDir } from '../helpers.js';

const ALICE: Caller = { user: 'alice', groups: ['alice', 'staff'], superuser: false };
const BOB: Caller = { user: 'bob', groups: ['bob'], superuser: false };
const CAROL: Caller = { user: 'carol', groups: ['carol', 'staff'], superuser: false };
const ROOT: Caller = { user: 'root', groups: ['supergroup'], superuser: true };

function codeName(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return ErrorCode[(err as { code: ErrorCode }).code]!;
  }
  return 'ok';
}

describe('permissions (HDFS rules, applied in the state machine with an explicit caller)', () => {
  let t: ReturnType<typeof tempDir>;
  let store: MetadataStore;
  let h: StoreHarness;
  const mkdir = (path: string, caller: Caller, mode = 0o755): Command => ({ type: 'Mkdir', path, parents: false, mode, now: T0, caller });
  const chmod = (path: string, mode: number, caller: Caller = ROOT): Command => ({ type: 'SetAttr', path, mode, now: T0, caller });
  const put = (path: string, caller: Caller, mode = 0o644, clientId = caller.user): number => {
    const { file } = h.ok(createCmd(path, clientId, { caller, mode }));
    const r = h.ok({ type: 'AddChunk', inode: file.inode, clientId, index: 0, now: T0, leaseExpiry: T0 + LEASE });
    h.ok({ type: 'CompleteFile', inode: file.inode, clientId, chunks: [{ handle: r.handle, length: 10, crc32c: 1 }], now: T0 });
    return file.inode;
  };
  const del = (path: string, caller: Caller, recursive = false, skipTrash = true): Command => ({ type: 'Delete', path, recursive, skipTrash, now: T0 + 5, caller });

  beforeEach(() => {
    t = tempDir();
    store = openStore(t.dir);
    h = new StoreHarness(store);
    // /home/alice (alice, 0755), /home/bob (bob, 0755), /tmp (1777), /shared (root:staff 0770)
    h.ok({ type: 'Mkdir', path: '/home', parents: false, mode: 0o755, now: T0 });
    for (const u of [ALICE, BOB]) {
      h.ok({ type: 'Mkdir', path: `/home/${u.user}`, parents: false, mode: 0o755, now: T0 });
      h.ok({ type: 'SetAttr', path: `/home/${u.user}`, owner: u.user, group: u.groups[0]!, now: T0, caller: ROOT });
    }
    h.ok({ type: 'Mkdir', path: '/tmp', parents: false, mode: 0o1777, now: T0 });
    h.ok({ type: 'Mkdir', path: '/shared', parents: false, mode: 0o770, now: T0 });
    h.ok({ type: 'SetAttr', path: '/shared', group: 'staff', now: T0, caller: ROOT });
  });
  afterEach(async () => {
    await store.close();
    t.cleanup();
  });

  it('new entries are owned by the caller and take the group of their directory', () => {
    put('/home/alice/f', ALICE);
    const f = store.stat('/home/alice/f');
    assert.equal(f.owner, 'alice');
    assert.equal(f.group, 'alice');
    assert.equal(f.mode, 0o644);
    h.ok({ type: 'Mkdir', path: '/shared/d', parents: false, mode: 0o750, now: T0, caller: CAROL });
    assert.deepEqual([store.stat('/shared/d').owner, store.stat('/shared/d').group], ['carol', 'staff']);
  });

  it('create needs w on the parent: allowed for the owner, refused for another user, one line naming path and permission', () => {
    put('/home/alice/ok', ALICE);
    const msg = h.fails(createCmd('/home/alice/x', 'bob', { caller: BOB }), ErrorCode.PERMISSION_DENIED);
    assert.match(msg, /user=bob, access=WRITE_EXECUTE, path=\/home\/alice \(alice:alice drwxr-xr-x\)/);
    assert.doesNotMatch(msg, /\n/);
    h.fails(mkdir('/home/alice/d', BOB), ErrorCode.PERMISSION_DENIED);
    h.fails({ type: 'Mkdir', path: '/home/alice/a/b', parents: true, mode: 0o755, now: T0, caller: BOB }, ErrorCode.PERMISSION_DENIED);
    h.ok(mkdir('/home/bob/d', BOB));
    // group class: carol (staff) may create in /shared (0770 root:staff); bob may not
    h.ok(mkdir('/shared/c', CAROL));
    h.fails(mkdir('/shared/b', BOB), ErrorCode.PERMISSION_DENIED);
    h.ok(mkdir('/home/alice/by-root', ROOT));
  });

  it('traverse needs x on every ancestor', () => {
    put('/home/alice/private/f', ALICE);
    h.ok(chmod('/home/alice/private', 0o700, ALICE));
    assert.equal(codeName(() => store.stat('/home/alice/private/f', BOB)), 'PERMISSION_DENIED');
    assert.equal(codeName(() => store.stat('/home/alice/private/f', ALICE)), 'ok');
    assert.equal(codeName(() => store.stat('/home/alice/private/f', ROOT)), 'ok');
    // x without r: children can be reached by name but not listed
    h.ok(chmod('/home/alice/private', 0o711, ALICE));
    assert.equal(codeName(() => store.stat('/home/alice/private/f', BOB)), 'ok');
    assert.equal(codeName(() => store.list('/home/alice/private', '', 0, BOB)), 'PERMISSION_DENIED');
    assert.equal(codeName(() => store.list('/home/alice/private', '', 0, ALICE)), 'ok');
  });

  it('reading a file needs r on it', () => {
    put('/home/alice/secret', ALICE, 0o600);
    put('/home/alice/public', ALICE, 0o644);
    assert.equal(codeName(() => store.getFile('/home/alice/secret', BOB)), 'PERMISSION_DENIED');
    assert.equal(codeName(() => store.getFile('/home/alice/secret', ALICE)), 'ok');
    assert.equal(codeName(() => store.getFile('/home/alice/secret', ROOT)), 'ok');
    assert.equal(codeName(() => store.getFile('/home/alice/public', BOB)), 'ok');
  });

  it('overwrite and append need w on the file', () => {
    const inode = put('/tmp/f', ALICE, 0o644);
    h.fails(createCmd('/tmp/f', 'bob', { caller: BOB, overwrite: true }), ErrorCode.PERMISSION_DENIED);
    h.fails({ type: 'OpenAppend', inode, clientId: 'bob', now: T0, leaseExpiry: T0 + LEASE, caller: BOB }, ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'OpenAppend', inode, clientId: 'alice', now: T0, leaseExpiry: T0 + LEASE, caller: ALICE });
  });

  it('delete needs w on the parent; a recursive delete needs rwx on every directory below', () => {
    put('/home/alice/f', ALICE);
    h.fails(del('/home/alice/f', BOB), ErrorCode.PERMISSION_DENIED);
    h.ok(del('/home/alice/f', ALICE));
    // bob's directory inside alice's: alice may not remove what she cannot empty
    h.ok(mkdir('/home/alice/box', ALICE, 0o777));
    h.ok(mkdir('/home/alice/box/bobs', BOB, 0o755));
    put('/home/alice/box/bobs/f', BOB);
    h.fails(del('/home/alice/box', ALICE, true), ErrorCode.PERMISSION_DENIED);
    h.ok(del('/home/alice/box', ROOT, true));
  });

  it('sticky directory: only the entry owner, the directory owner or the superuser delete or rename', () => {
    put('/tmp/alices', ALICE);
    put('/tmp/bobs', BOB);
    const msg = h.fails(del('/tmp/alices', BOB), ErrorCode.PERMISSION_DENIED);
    assert.match(msg, /sticky/);
    h.fails({ type: 'Rename', src: '/tmp/alices', dst: '/tmp/mine', overwrite: false, now: T0, caller: BOB }, ErrorCode.PERMISSION_DENIED);
    h.fails({ type: 'Rename', src: '/tmp/bobs', dst: '/tmp/alices', overwrite: true, now: T0, caller: BOB }, ErrorCode.PERMISSION_DENIED);
    h.ok(del('/tmp/bobs', BOB));
    h.ok({ type: 'Rename', src: '/tmp/alices', dst: '/tmp/a2', overwrite: false, now: T0, caller: ALICE });
    h.ok(del('/tmp/a2', ROOT));
  });

  it('rename needs w on both parents', () => {
    put('/home/alice/f', ALICE);
    h.fails({ type: 'Rename', src: '/home/alice/f', dst: '/home/bob/f', overwrite: false, now: T0, caller: ALICE }, ErrorCode.PERMISSION_DENIED);
    h.fails({ type: 'Rename', src: '/home/alice/f', dst: '/home/bob/f', overwrite: false, now: T0, caller: BOB }, ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'Rename', src: '/home/alice/f', dst: '/tmp/f', overwrite: false, now: T0, caller: ALICE });
  });

  it('chmod by the owner only; chown by the superuser only; chgrp by the owner to one of its groups', () => {
    put('/home/alice/f', ALICE);
    h.fails(chmod('/home/alice/f', 0o600, BOB), ErrorCode.PERMISSION_DENIED);
    h.ok(chmod('/home/alice/f', 0o640, ALICE));
    assert.equal(store.stat('/home/alice/f').mode, 0o640);
    const msg = h.fails({ type: 'SetAttr', path: '/home/alice/f', owner: 'bob', now: T0, caller: ALICE }, ErrorCode.PERMISSION_DENIED);
    assert.match(msg, /chown/);
    h.fails({ type: 'SetAttr', path: '/home/alice/f', owner: 'bob', now: T0, caller: BOB }, ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'SetAttr', path: '/home/alice/f', group: 'staff', now: T0, caller: ALICE });
    h.fails({ type: 'SetAttr', path: '/home/alice/f', group: 'bob', now: T0, caller: ALICE }, ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'SetAttr', path: '/home/alice/f', owner: 'bob', group: 'bob', now: T0, caller: ROOT });
    const f = store.stat('/home/alice/f');
    assert.deepEqual([f.owner, f.group, f.mode], ['bob', 'bob', 0o640]);
    h.fails({ type: 'SetAttr', path: '/home/alice/f', owner: 'no body', now: T0, caller: ROOT }, ErrorCode.INVALID_ARGUMENT);
    h.fails(chmod('/home/alice/f', 0o17777), ErrorCode.INVALID_ARGUMENT);
  });

  it('times: the owner or a writer may set them, others may not', () => {
    put('/tmp/f', ALICE, 0o644);
    h.ok({ type: 'SetAttr', path: '/tmp/f', mtime: 1000, atime: 2000, now: T0, caller: ALICE });
    const f = store.stat('/tmp/f');
    assert.deepEqual([f.mtimeMs, f.atimeMs], [1000, 2000]);
    h.fails({ type: 'SetAttr', path: '/tmp/f', mtime: 5, now: T0, caller: BOB }, ErrorCode.PERMISSION_DENIED);
    h.ok(chmod('/tmp/f', 0o666, ALICE));
    h.ok({ type: 'SetAttr', path: '/tmp/f', mtime: 5, now: T0, caller: BOB });
  });

  it('setrep needs w on the file; quotas are the superuser\'s', () => {
    put('/home/alice/f', ALICE);
    h.fails({ type: 'SetReplication', path: '/home/alice/f', replication: 2, now: T0, caller: BOB }, ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'SetReplication', path: '/home/alice/f', replication: 2, now: T0, caller: ALICE });
    assert.equal(store.stat('/home/alice/f').replication, 2);
    h.fails({ type: 'SetQuota', path: '/home/alice', files: 10, clear: false, now: T0, caller: ALICE }, ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'SetQuota', path: '/home/alice', files: 10, clear: false, now: T0, caller: ROOT });
  });

  it('each user deletes into its own trash, which only it (and the superuser) can read and restore from', () => {
    put('/tmp/a', ALICE);
    const r = h.ok(del('/tmp/a', ALICE, false, false));
    assert.equal(r.trashedTo, '/user/alice/.Trash/Current/tmp/a');
    const trash = store.stat('/user/alice/.Trash');
    assert.deepEqual([trash.owner, trash.mode], ['alice', 0o700]);
    assert.equal(store.stat('/user').owner, 'root');
    assert.equal(codeName(() => store.list('/user/alice/.Trash/Current/tmp', '', 0, BOB)), 'PERMISSION_DENIED');
    h.fails({ type: 'Rename', src: r.trashedTo, dst: '/tmp/stolen', overwrite: false, now: T0, caller: BOB }, ErrorCode.PERMISSION_DENIED);
    h.ok({ type: 'Rename', src: r.trashedTo, dst: '/tmp/a', overwrite: false, now: T0, caller: ALICE });
    assert.equal(store.stat('/tmp/a').size, 10);
    // a delete inside the trash is final
    put('/tmp/b', BOB);
    const rb = h.ok(del('/tmp/b', BOB, false, false));
    h.ok(del(rb.trashedTo, BOB, false, false));
    assert.equal(codeName(() => store.stat(rb.trashedTo)), 'NOT_FOUND');
  });

  it('deleting what holds one\'s own trash (/user, a home) is final, never a move into itself', () => {
    put('/tmp/a', ALICE);
    h.ok(del('/tmp/a', ALICE, false, false));
    h.ok({ type: 'SetAttr', path: '/user', mode: 0o777, now: T0, caller: ROOT });
    const r = h.ok(del('/user/alice', ALICE, true, false));
    assert.equal(r.trashedTo, undefined);
    assert.equal(codeName(() => store.stat('/user/alice')), 'NOT_FOUND');
    h.ok(del('/user', ROOT, true, false));
    assert.equal(codeName(() => store.stat('/user')), 'NOT_FOUND');
    assert.equal(store.dump().inodes.filter((i) => (i as { parent: number | null }).parent === null && (i as { id: number }).id !== 1).length, 0, 'no orphaned subtree');
  });

  it('a log of permission decisions replays to the same state', () => {
    put('/tmp/x', ALICE);
    h.apply(del('/tmp/x', BOB));
    h.apply(chmod('/tmp/x', 0o600, ALICE));
    const t2 = tempDir();
    const other = openStore(t2.dir);
    try {
      h.log.forEach((data, i) => other.apply(i + 1, data));
      assert.deepEqual(other.dump(), store.dump());
    } finally {
      other.close();
      t2.cleanup();
    }
  });
});
