import type { FuseOperations, FuseStat } from 'fuse-native';
import { IO_BLOCK_SIZE, type Attr } from '../fs/attrs.js';
import { errnoName, FsError, toFuseErrno } from '../fs/errno.js';
import type { DfsFileSystem } from '../fs/filesystem.js';
import type { Logger } from '@dfs/telemetry';

function toFuseStat(attr: Attr): FuseStat {
  return {
    mode: attr.mode,
    uid: attr.uid,
    gid: attr.gid,
    size: attr.size,
    nlink: attr.nlink,
    ino: attr.ino >>> 0,
    rdev: attr.rdev ?? 0,
    blksize: IO_BLOCK_SIZE,
    blocks: Math.ceil(attr.size / 512),
    atime: attr.atimeMs ?? attr.mtimeMs,
    mtime: attr.mtimeMs,
    ctime: attr.ctimeMs ?? attr.mtimeMs,
  };
}

/** Adapts DfsFileSystem's promises to fuse-native's callbacks (0 / bytes / -errno). */
export function fuseOperations(fs: DfsFileSystem, log: Logger, trace = process.env.DFS_FUSE_TRACE === '1'): FuseOperations {
  const ops = untracedOperations(fs, log);
  if (!trace) return ops;
  // DFS_FUSE_TRACE=1: one log line per operation with its latency and result.
  const traced: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(ops) as Array<[string, (...args: unknown[]) => void]>) {
    traced[name] = (...args: unknown[]) => {
      const start = process.hrtime.bigint();
      const cb = args[args.length - 1] as (...r: unknown[]) => void;
      args[args.length - 1] = (...result: unknown[]) => {
        log.info({ op: name, path: args[0], ms: Number(process.hrtime.bigint() - start) / 1e6, result: result[0] }, 'op');
        cb(...result);
      };
      fn(...args);
    };
  }
  return traced as FuseOperations;
}

function untracedOperations(fs: DfsFileSystem, log: Logger): FuseOperations {
  const fail = (op: string, path: string, err: unknown): number => {
    const name = errnoName(err);
    // Expected answers (a lookup that misses) are not worth a log line.
    if (name !== 'ENOENT' && name !== 'EEXIST' && name !== 'ENOTEMPTY' && !(err instanceof FsError && err.expected)) {
      log.warn({ op, path, errno: name, error: err instanceof Error ? err.message : String(err) }, 'fuse op failed');
    }
    return toFuseErrno(err);
  };
  const done = (op: string, path: string, work: Promise<unknown>, cb: (result: number) => void): void => {
    work.then(
      () => cb(0),
      (err: unknown) => cb(fail(op, path, err)),
    );
  };

  return {
    init: (cb) => cb(0),
    statfs: (path, cb) => {
      fs.statfs().then(
        (s) => cb(0, s),
        (err: unknown) => cb(fail('statfs', path, err)),
      );
    },
    getattr: (path, cb) => {
      fs.getattr(path).then(
        (a) => cb(0, toFuseStat(a)),
        (err: unknown) => cb(fail('getattr', path, err)),
      );
    },
    readdir: (path, cb) => {
      fs.readdir(path).then(
        (names) => cb(0, names),
        (err: unknown) => cb(fail('readdir', path, err)),
      );
    },
    open: (path, flags, cb) => {
      fs.open(path, flags).then(
        (fd) => cb(0, fd),
        (err: unknown) => cb(fail('open', path, err)),
      );
    },
    create: (path, mode, cb) => {
      fs.create(path, mode).then(
        (fd) => cb(0, fd),
        (err: unknown) => cb(fail('create', path, err)),
      );
    },
    read: (path, fd, buf, len, pos, cb) => {
      fs.read(fd, buf, len, pos).then(cb, (err: unknown) => cb(fail('read', path, err)));
    },
    write: (path, fd, buf, len, pos, cb) => {
      fs.write(fd, buf, len, pos).then(cb, (err: unknown) => cb(fail('write', path, err)));
    },
    truncate: (path, size, cb) => done('truncate', path, fs.truncate(path, size), cb),
    ftruncate: (path, fd, size, cb) => done('ftruncate', path, fs.ftruncate(fd, size), cb),
    flush: (path, fd, cb) => done('flush', path, fs.flush(fd), cb),
    fsync: (path, _datasync, fd, cb) => done('fsync', path, fs.fsync(fd), cb),
    release: (path, fd, cb) => done('release', path, fs.release(fd), cb),
    mkdir: (path, mode, cb) => done('mkdir', path, fs.mkdir(path, mode), cb),
    rmdir: (path, cb) => done('rmdir', path, fs.rmdir(path), cb),
    unlink: (path, cb) => done('unlink', path, fs.unlink(path), cb),
    rename: (src, dst, cb) => done('rename', src, fs.rename(src, dst), cb),
    chmod: (path, mode, cb) => done('chmod', path, fs.chmod(path, mode), cb),
    // Owners are names on the master; ids map through the local account database.
    chown: (path, uid, gid, cb) => done('chown', path, fs.chown(path, uid, gid), cb),
    readlink: (path, cb) => {
      fs.readlink(path).then(
        (target) => cb(0, target),
        (err: unknown) => cb(fail('readlink', path, err)),
      );
    },
    // fuse-native names symlink's arguments (target, path) and link's (existing, new).
    symlink: (target, path, cb) => done('symlink', path, fs.symlink(target, path), cb),
    link: (src, dst, cb) => done('link', dst, fs.link(src, dst), cb),
    mknod: (path, mode, rdev, cb) => done('mknod', path, fs.mknod(path, mode, rdev), cb),
    // fuse-native 2.2.6 passes the atime in both arguments; see README (utimens caveat).
    utimens: (path, _atime, mtime, cb) => done('utimens', path, fs.utimens(path, mtime), cb),
  };
}
