import type { FileStatus } from '@dfs/proto';

/**
 * One committed version of a remote file. A file that is written again gets a new
 * version (new mtime, usually a new inode), never the same one twice, so a cache key
 * built from it can never return bytes of another version.
 */
export interface FileVersion {
  remotePath: string;
  inode: number;
  mtimeMs: number;
  size: number;
  /** All its bytes, when the answer that named this version carried them (a file kept inline). */
  inline?: Buffer;
}

export function versionOf(remotePath: string, status: FileStatus, inline?: Buffer): FileVersion {
  const version: FileVersion = { remotePath, inode: status.inode, mtimeMs: status.mtimeMs, size: status.size };
  if (inline && inline.length === status.size) version.inline = inline;
  return version;
}

export function isSameVersion(v: FileVersion, status: FileStatus | null): boolean {
  return status !== null && status.inode === v.inode && status.mtimeMs === v.mtimeMs && status.size === v.size;
}

export function versionKey(v: FileVersion): string {
  return `${v.remotePath}\0${v.inode}:${v.mtimeMs}:${v.size}`;
}
