import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DfsError, ErrorCode, FileType } from '@dfs/proto';
import { attrFromStatus, typeOfMode } from '../src/fs/attrs.js';
import { BlockCache } from '../src/fs/block-cache.js';
import { BlockStream } from '../src/fs/block-stream.js';
import { IdentityMap, NOBODY } from '../src/fs/identity-map.js';
import { errnoName, FsError, toFuseErrno } from '../src/fs/errno.js';
import { timeoutOptions } from '../src/native/fuse-mount.js';
import { readMountTable } from '../src/native/mount-table.js';
import { removeStaleSpoolDirs } from '../src/process/spool-dir.js';
import { parseArgs, UsageError } from '../src/process/options.js';
import { PathMap, rebase } from '../src/fs/paths.js';
import { statfsFromNodes } from '../src/fs/statfs.js';
import { TtlCache } from '../src/fs/ttl-cache.js';
import { FakeClock } from './helpers.js';

describe('errno mapping', () => {
  it('maps each dfs error code the issue lists to its errno', () => {
    const cases: Array<[ErrorCode, string]> = [
      [ErrorCode.NOT_FOUND, 'ENOENT'],
      [ErrorCode.ALREADY_EXISTS, 'EEXIST'],
      [ErrorCode.NOT_EMPTY, 'ENOTEMPTY'],
      [ErrorCode.IS_A_DIRECTORY, 'EISDIR'],
      [ErrorCode.NOT_A_DIRECTORY, 'ENOTDIR'],
      [ErrorCode.NAME_TOO_LONG, 'ENAMETOOLONG'],
      [ErrorCode.UNAVAILABLE, 'EIO'],
      [ErrorCode.DEADLINE_EXCEEDED, 'EIO'],
      [ErrorCode.NO_SPACE, 'ENOSPC'],
      [ErrorCode.INTERNAL, 'EIO'],
    ];
    for (const [code, errno] of cases) assert.equal(errnoName(new DfsError(code, 'x')), errno, ErrorCode[code]);
  });

  it('negates errnos for fuse-native, and anything unknown is EIO', () => {
    assert.equal(toFuseErrno(new FsError('ENOENT', 'x')), -2);
    assert.equal(toFuseErrno(new Error('boom')), -5);
    assert.equal(toFuseErrno(Object.assign(new Error('disk full'), { code: 'ENOSPC' })), -28);
    assert.equal(toFuseErrno('a string'), -5);
  });
});

describe('BlockCache', () => {
  it('evicts the least recently used blocks beyond its byte bound', () => {
    const cache = new BlockCache(3000);
    cache.set('a', Buffer.alloc(1000));
    cache.set('b', Buffer.alloc(1000));
    cache.set('c', Buffer.alloc(1000));
    cache.get('a');
    cache.set('d', Buffer.alloc(1000));
    assert.equal(cache.get('b'), undefined, 'b was least recently used');
    assert.ok(cache.get('a') && cache.get('c') && cache.get('d'));
    assert.equal(cache.usedBytes, 3000);
    cache.set('huge', Buffer.alloc(5000));
    assert.equal(cache.get('huge'), undefined, 'a block larger than the cache is not kept');
  });
});

describe('TtlCache', () => {
  it('expires entries after the TTL and bounds their number', () => {
    const clock = new FakeClock();
    const cache = new TtlCache<number | null>(1000, 2, clock.now);
    cache.set('a', 1);
    cache.set('neg', null);
    assert.equal(cache.get('neg'), null, 'null (a negative answer) is a value');
    clock.advance(1001);
    assert.equal(cache.get('a'), undefined);
    cache.set('x', 1);
    cache.set('y', 2);
    cache.set('z', 3);
    assert.equal(cache.size, 2);
    assert.equal(cache.get('x'), undefined);
  });

  it('update replaces a live value but keeps its expiry, and never brings back an expired one', () => {
    const clock = new FakeClock();
    const cache = new TtlCache<number>(1000, 10, clock.now);
    cache.set('a', 1);
    clock.advance(600);
    cache.update('a', 2);
    assert.equal(cache.get('a'), 2);
    clock.advance(401);
    assert.equal(cache.get('a'), undefined, 'expired 1000 ms after the set, not after the update');
    cache.update('a', 3);
    cache.update('never', 4);
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('never'), undefined);
  });
});

describe('statfs', () => {
  it('sums live chunkservers and scales the block size so 32-bit fields hold petabytes', () => {
    const pb = 2 ** 50;
    const s = statfsFromNodes([
      { state: 'live', capacityBytes: pb, usedBytes: 0, freeBytes: pb / 2 },
      { state: 'dead', capacityBytes: pb, usedBytes: 0, freeBytes: pb },
    ]);
    assert.ok(s.blocks <= 0xffffffff);
    assert.equal(s.blocks * s.frsize, pb);
    assert.equal(s.bavail * s.frsize, pb / 2);
  });
});

describe('paths', () => {
  it('maps mount paths under the remote directory and rebases renamed trees', () => {
    assert.equal(new PathMap('/').toRemote('/a/b'), '/a/b');
    assert.equal(new PathMap('/sub/').toRemote('/'), '/sub');
    assert.equal(new PathMap('/sub').toRemote('/a'), '/sub/a');
    assert.equal(rebase('/a/b/c', '/a', '/x'), '/x/b/c');
    assert.equal(rebase('/a', '/a', '/x/y'), '/x/y');
  });
});

describe('dfs-mount arguments', () => {
  it('takes flags before or after the positionals', () => {
    const a = parseArgs(['/data', '/mnt', '--masters', 'h:1,h:2', '--daemon', '--cache-size', '128MiB', '--attr-ttl=500ms']);
    assert.equal(a.kind, 'mount');
    if (a.kind !== 'mount') return;
    assert.equal(a.remoteDir, '/data');
    assert.equal(a.mountpoint, '/mnt');
    assert.equal(a.masters, 'h:1,h:2');
    assert.equal(a.daemon, true);
    assert.equal(a.cacheBytes, 128 * 1024 * 1024);
    assert.equal(a.attrTtlMs, 500);
    assert.equal(a.writeBehind, true, 'write-behind is the default');
    const b = parseArgs(['/mnt']);
    assert.equal(b.kind === 'mount' && b.remoteDir, '/');
    const c = parseArgs(['--no-write-behind', '/mnt']);
    assert.equal(c.kind === 'mount' && c.writeBehind, false);
    assert.deepEqual(parseArgs(['--umount', '/mnt']), { kind: 'umount', mountpoint: '/mnt' });
  });

  it('takes the kernel cache timeouts, and turns them into libfuse options in seconds', () => {
    const a = parseArgs(['/mnt', '--attr-timeout', '2s', '--entry-timeout=250ms', '--negative-timeout', '0']);
    assert.ok(a.kind === 'mount');
    assert.deepEqual([a.attrTimeoutMs, a.entryTimeoutMs, a.negativeTimeoutMs], [2000, 250, 0]);
    assert.deepEqual(timeoutOptions({ attrMs: 2000, entryMs: 250, negativeMs: 0 }), ['attr_timeout=2', 'entry_timeout=0.25', 'negative_timeout=0']);
    const d = parseArgs(['/mnt']);
    assert.ok(d.kind === 'mount' && d.attrTimeoutMs === undefined, 'absent: the defaults apply');
    assert.throws(() => parseArgs(['/mnt', '--attr-timeout', '2h']), /at most 1h/);
    assert.throws(() => parseArgs(['/mnt', '--entry-timeout', '-1s']), /invalid duration/);
  });

  it('rejects what it does not understand', () => {
    assert.throws(() => parseArgs([]), UsageError);
    assert.throws(() => parseArgs(['a', 'b', 'c']), UsageError);
    assert.throws(() => parseArgs(['--bogus', '/mnt']), UsageError);
    assert.throws(() => parseArgs(['relative', '/mnt']), UsageError);
    assert.throws(() => parseArgs(['/mnt', '--masters']), UsageError);
  });
});

describe('mount table', () => {
  it('reads mount points with escaped spaces', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-fuse-mi-'));
    try {
      const file = join(dir, 'mountinfo');
      writeFileSync(file, '36 35 0:40 / /tmp/my\\040mnt rw,nosuid - fuse.dfs dfs:/ rw,user_id=0\n');
      assert.deepEqual(readMountTable(file), [{ mountpoint: '/tmp/my mnt', fstype: 'fuse.dfs', source: 'dfs:/' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('spool directories', () => {
  it('removes the default spool directories of servers that are gone, and only those', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dfs-fuse-spools-'));
    try {
      mkdirSync(join(dir, `dfs-mount-${process.pid}`));
      mkdirSync(join(dir, 'dfs-mount-999999999'));
      mkdirSync(join(dir, 'dfs-mount-other'));
      const removed = removeStaleSpoolDirs(dir);
      assert.deepEqual(removed, [join(dir, 'dfs-mount-999999999')]);
      assert.ok(existsSync(join(dir, `dfs-mount-${process.pid}`)));
      assert.ok(existsSync(join(dir, 'dfs-mount-other')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('IdentityMap (dfs names <-> local ids)', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/bash\nalice:x:1001:1001::/home/alice:/bin/sh\nbob:x:1002:1002::/home/bob:/bin/sh\n';
  const group = 'root:x:0:\nalice:x:1001:\nstaff:x:50:alice\n';
  const mounter = { uid: 1001, gid: 1001 };

  it('shows the mount identity as the mounting user, other names through the account database, unknown as nobody', () => {
    const ids = new IdentityMap({ user: 'carol', groups: ['carol', 'supergroup'] }, mounter, passwd, group);
    assert.deepEqual(ids.ownerOf('carol', 'supergroup'), { uid: 1001, gid: 1001 });
    assert.deepEqual(ids.ownerOf('bob', 'staff'), { uid: 1002, gid: 50 });
    assert.deepEqual(ids.ownerOf('mallory', 'nogroup'), { uid: NOBODY, gid: NOBODY });
  });

  it('maps chown ids back to names; an id without a name is undefined', () => {
    const ids = new IdentityMap({ user: 'carol', groups: ['carol'] }, mounter, passwd, group);
    assert.equal(ids.userOf(1001), 'carol', 'the mounting uid is the mount identity');
    assert.equal(ids.userOf(1002), 'bob');
    assert.equal(ids.userOf(4242), undefined);
    assert.equal(ids.groupOf(50), 'staff');
    assert.equal(ids.groupOf(4242), undefined);
  });
});

describe('attributes of POSIX entries (attrs.ts)', () => {
  const base = {
    path: '/x', name: 'x', size: 0, mode: 0o644, mtimeMs: 5000, replication: 0, chunkSize: 0, inode: 42, underConstruction: false,
    chunkCount: 0, owner: 'root', group: 'root', atimeMs: 4000, symlinkTarget: '', nlink: 1, ctimeMs: 6000, rdev: 0,
  };
  it('reports each type\'s S_IFMT bits, the master\'s link count, times and rdev', () => {
    const owner = { uid: 1, gid: 2 };
    const cases: Array<[FileType, number]> = [
      [FileType.FILE, 0o100000], [FileType.DIRECTORY, 0o040000], [FileType.SYMLINK, 0o120000], [FileType.FIFO, 0o010000],
      [FileType.SOCKET, 0o140000], [FileType.CHAR_DEVICE, 0o020000], [FileType.BLOCK_DEVICE, 0o060000],
    ];
    for (const [type, bits] of cases) {
      const a = attrFromStatus({ ...base, type, nlink: 3, rdev: 0x0103 }, owner);
      assert.equal(a.mode & 0o170000, bits, FileType[type]);
      assert.equal(typeOfMode(bits | 0o644), type);
      assert.deepEqual([a.nlink, a.ino, a.mtimeMs, a.atimeMs, a.ctimeMs, a.rdev], [3, 42, 5000, 4000, 6000, 0x0103]);
    }
    assert.equal(typeOfMode(0o644), undefined, 'no type bits: mknod of a regular file is decided by the caller');
  });
});

describe('BlockStream (one long read cut into blocks)', () => {
  async function* pieces(data: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
    let pos = 0;
    for (let i = 0; pos < data.length; i++) {
      const n = sizes[i % sizes.length]!;
      yield data.subarray(pos, pos + n);
      pos += n;
    }
  }

  function collect(data: Buffer, sizes: number[], opts: { fileSize?: number; verify?: () => Promise<void> } = {}) {
    const blocks: Array<[number, Buffer]> = [];
    let resolveEnd!: (err: unknown) => void;
    const ended = new Promise<unknown>((resolve) => (resolveEnd = resolve));
    const fileSize = opts.fileSize ?? data.length;
    const lastBlock = Math.floor((fileSize - 1) / 100);
    const stream = new BlockStream({
      source: () => pieces(data, sizes),
      firstBlock: 0,
      blockSize: 100,
      fileSize,
      verify: opts.verify ?? (async () => undefined),
      sink: {
        block: (index, bytes) => {
          blocks.push([index, Buffer.from(bytes)]);
          if (index === lastBlock) resolveEnd(undefined);
        },
        failed: (err) => resolveEnd(err),
      },
    });
    stream.allow(Number.MAX_SAFE_INTEGER);
    return { blocks, ended };
  }

  it('cuts pieces of any size into whole blocks, the last one short', async () => {
    const data = randomBytes(1050);
    for (const sizes of [[7], [100], [250, 13], [1050]]) {
      const { blocks, ended } = collect(data, sizes);
      assert.equal(await ended, undefined);
      assert.deepEqual(blocks.map(([i]) => i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], `pieces of ${sizes.join(', ')}`);
      assert.deepEqual(Buffer.concat(blocks.map(([, b]) => b)), data);
    }
  });

  it('hands on no block before the version check passes, and fails with its error', async () => {
    const { blocks, ended } = collect(randomBytes(500), [50], {
      verify: async () => {
        throw new FsError('ESTALE', 'changed');
      },
    });
    assert.equal(errnoName(await ended), 'ESTALE');
    assert.equal(blocks.length, 0);
  });

  it('fails with EIO when the file ends early, after the blocks that did come', async () => {
    const { blocks, ended } = collect(randomBytes(250), [60], { fileSize: 400 });
    assert.equal(errnoName(await ended), 'EIO');
    assert.deepEqual(blocks.map(([i]) => i), [0, 1]);
  });
});
