import { FileType, type FileStatus } from '@dfs/proto';
import type { OpenFile } from './open-file.js';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_DIR_MODE = 0o755;
/** Preferred I/O size: tools like cp size their buffers from it. */
export const IO_BLOCK_SIZE = 1024 * 1024;

/** What getattr answers, independent of fuse-native's representation. */
export interface Attr {
  /** Type bits | permission bits. */
  mode: number;
  size: number;
  mtimeMs: number;
  ino: number;
  nlink: number;
  uid: number;
  gid: number;
}

/** mode/mtime set through chmod/utimens and kept locally while the backend cannot store them. */
export interface AttrOverride {
  mode?: number;
  mtimeMs?: number;
}

export interface Owner {
  uid: number;
  gid: number;
}

function permissions(mode: number, isDir: boolean): number {
  const perm = mode & 0o7777;
  return perm !== 0 ? perm : isDir ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE;
}

export function attrFromStatus(status: FileStatus, owner: Owner, override?: AttrOverride): Attr {
  const isDir = status.type === FileType.DIRECTORY;
  return {
    mode: (isDir ? S_IFDIR : S_IFREG) | permissions(override?.mode ?? status.mode, isDir),
    size: isDir ? 4096 : status.size,
    mtimeMs: override?.mtimeMs ?? status.mtimeMs,
    ino: status.inode,
    nlink: isDir ? 2 : 1,
    uid: owner.uid,
    gid: owner.gid,
  };
}

/** Attributes of a file whose local spool is the truth on this mount. */
export function attrFromOpenFile(file: OpenFile, size: number, owner: Owner, override?: AttrOverride): Attr {
  return {
    mode: S_IFREG | permissions(override?.mode ?? file.mode, false),
    size,
    mtimeMs: override?.mtimeMs ?? file.mtimeMs,
    ino: file.base?.inode ?? 0,
    nlink: file.orphan ? 0 : 1,
    uid: owner.uid,
    gid: owner.gid,
  };
}

export function isDirectory(status: FileStatus): boolean {
  return status.type === FileType.DIRECTORY;
}
