import { FileType, type FileStatus } from '@dfs/proto';
import type { OpenFile } from './open-file.js';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFSOCK = 0o140000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** The file-type bits of each dfs type, and back (mknod hands us a mode with them). */
const TYPE_BITS: Array<[FileType, number]> = [
  [FileType.FILE, S_IFREG],
  [FileType.DIRECTORY, S_IFDIR],
  [FileType.SYMLINK, S_IFLNK],
  [FileType.FIFO, S_IFIFO],
  [FileType.SOCKET, S_IFSOCK],
  [FileType.CHAR_DEVICE, S_IFCHR],
  [FileType.BLOCK_DEVICE, S_IFBLK],
];

export function typeBits(type: FileType): number {
  return TYPE_BITS.find(([t]) => t === type)?.[1] ?? S_IFREG;
}

/** The dfs type a mode's S_IFMT bits name (undefined: none we know). */
export function typeOfMode(mode: number): FileType | undefined {
  return TYPE_BITS.find(([, bits]) => bits === (mode & S_IFMT))?.[0];
}
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
  /** Absent: the mtime (a file whose new content is local only). */
  atimeMs?: number;
  ctimeMs?: number;
  ino: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev?: number;
}

/** mode/times set through chmod/utimens, kept locally until the file's content is committed. */
export interface AttrOverride {
  mode?: number;
  mtimeMs?: number;
  atimeMs?: number;
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
  const mtimeMs = override?.mtimeMs ?? status.mtimeMs;
  return {
    mode: typeBits(status.type) | permissions(override?.mode ?? status.mode, isDir),
    size: isDir ? 4096 : status.size,
    mtimeMs,
    atimeMs: override?.atimeMs ?? (status.atimeMs || mtimeMs),
    ctimeMs: Math.max(status.ctimeMs || 0, override ? mtimeMs : 0) || mtimeMs,
    ino: status.inode,
    nlink: status.nlink || (isDir ? 2 : 1),
    uid: owner.uid,
    gid: owner.gid,
    rdev: status.rdev,
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
