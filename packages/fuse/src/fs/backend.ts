import type { GrowingFile } from '@dfs/client';
import type { FileStatus, FileType } from '@dfs/proto';

/** A local file still being written: DfsClient's own interface (putGrowingFile). */
export type { GrowingFile };

/** Capacity of one storage node, as ClusterStatus reports it. */
export interface NodeCapacity {
  state?: string;
  capacityBytes: number;
  usedBytes: number;
  freeBytes: number;
}

/** What SetAttr changes (DfsClient.setAttributes); an absent field keeps its value. */
export interface AttributeChange {
  mode?: number;
  mtimeMs?: number;
  atimeMs?: number;
  owner?: string;
  group?: string;
}

/**
 * The narrow slice of DfsClient the FUSE adapter uses. DfsClient satisfies it as is
 * (checked in dfs-backend.ts); the unit tests run the adapter over an in-memory one.
 * Paths are absolute remote paths.
 */
export interface FsBackend {
  tryStat(path: string): Promise<FileStatus | null>;
  /** tryStat plus the bytes of a file kept inline (DfsClient has it): a small file's open + read in one call. */
  statWithInline?(path: string): Promise<{ file: FileStatus; inline?: Buffer } | null>;
  list(path: string): AsyncIterable<FileStatus>;
  mkdir(path: string, opts: { parents?: boolean; mode?: number }): Promise<unknown>;
  rm(path: string, opts: { recursive?: boolean; skipTrash?: boolean }): Promise<void>;
  mv(src: string, dst: string, opts: { overwrite?: boolean }): Promise<void>;
  /** Uploads a local file, a stream or bytes; the remote file appears whole when this resolves. */
  put(source: string | NodeJS.ReadableStream | Uint8Array, remote: string, opts: { overwrite?: boolean; mode?: number }): Promise<FileStatus>;
  /**
   * Uploads a local file while it is still being written, each chunk once `growing` says
   * its bytes are final (DfsClient has it; without it the mount has no write-behind).
   */
  putGrowingFile?(localPath: string, remote: string, growing: GrowingFile, opts: { overwrite?: boolean; mode?: number }): Promise<FileStatus>;
  /** Bytes [start, end] of a file (end inclusive), in order; `signal` cancels the read. */
  readChunks(path: string, opts: { start?: number; end?: number; signal?: AbortSignal }): AsyncIterable<Buffer>;
  clusterStatus(): Promise<{ chunkservers: NodeCapacity[] }>;
  /** POSIX entries (DfsClient has them); without them the mount answers ENOSYS. */
  symlink?(target: string, path: string): Promise<FileStatus>;
  link?(src: string, dst: string): Promise<FileStatus>;
  mknod?(path: string, type: FileType, opts: { mode?: number; rdev?: number }): Promise<FileStatus>;
  /** The master's SetAttr (DfsClient has it); without it the adapter keeps mode/mtime in a local overlay. */
  setAttributes?(path: string, change: AttributeChange): Promise<unknown>;
}
