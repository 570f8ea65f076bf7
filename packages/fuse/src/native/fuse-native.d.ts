// The part of fuse-native 2.2.6 (no bundled types) that @dfs/fuse uses.
declare module 'fuse-native' {
  /** First argument of every callback: 0 or a negative errno (read/write: bytes done, or a negative errno). */
  type Done = (result: number) => void;

  export interface FuseStat {
    mode: number;
    uid: number;
    gid: number;
    size: number;
    nlink: number;
    ino?: number;
    rdev?: number;
    blksize?: number;
    blocks?: number;
    atime: Date | number;
    mtime: Date | number;
    ctime: Date | number;
  }

  export interface FuseStatfs {
    bsize: number;
    frsize: number;
    blocks: number;
    bfree: number;
    bavail: number;
    files: number;
    ffree: number;
    favail: number;
    fsid: number;
    flag: number;
    namemax: number;
  }

  export interface FuseOperations {
    init?(cb: Done): void;
    statfs?(path: string, cb: (result: number, statfs?: FuseStatfs) => void): void;
    getattr?(path: string, cb: (result: number, stat?: FuseStat) => void): void;
    fgetattr?(path: string, fd: number, cb: (result: number, stat?: FuseStat) => void): void;
    readdir?(path: string, cb: (result: number, names?: string[], stats?: FuseStat[]) => void): void;
    open?(path: string, flags: number, cb: (result: number, fd?: number) => void): void;
    create?(path: string, mode: number, cb: (result: number, fd?: number) => void): void;
    read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Done): void;
    write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Done): void;
    truncate?(path: string, size: number, cb: Done): void;
    ftruncate?(path: string, fd: number, size: number, cb: Done): void;
    flush?(path: string, fd: number, cb: Done): void;
    fsync?(path: string, datasync: number, fd: number, cb: Done): void;
    release?(path: string, fd: number, cb: Done): void;
    mkdir?(path: string, mode: number, cb: Done): void;
    rmdir?(path: string, cb: Done): void;
    unlink?(path: string, cb: Done): void;
    rename?(src: string, dest: string, cb: Done): void;
    chmod?(path: string, mode: number, cb: Done): void;
    chown?(path: string, uid: number, gid: number, cb: Done): void;
    readlink?(path: string, cb: (result: number, target?: string) => void): void;
    /** (target, path): the new link at `path` holds `target`. */
    symlink?(target: string, path: string, cb: Done): void;
    /** (existing, new) */
    link?(src: string, dst: string, cb: Done): void;
    mknod?(path: string, mode: number, rdev: number, cb: Done): void;
    /** Both arguments carry the atime in 2.2.6 (its native code passes atime twice). */
    utimens?(path: string, atimeMs: number, mtimeMs: number, cb: Done): void;
  }

  export interface FuseOptions {
    /** Milliseconds per operation before fuse-native answers ETIMEDOUT; false = never; per-op map allowed. */
    timeout?: number | false | Record<string, number | false>;
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
    allowOther?: boolean;
    fsname?: string;
    subtype?: string;
    uid?: number;
    gid?: number;
  }

  class Fuse {
    constructor(mountpoint: string, ops: FuseOperations, opts?: FuseOptions);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    /** Builds the "-o a,b,c" string handed to libfuse; subclasses may extend it. */
    protected _fuseOptions(): string;
    static unmount(mountpoint: string, cb: (err: Error | null) => void): void;
  }

  export default Fuse;
}
