import type { FileStatus } from '@dfs/proto';

/** Capacity of one storage node, as ClusterStatus reports it. */
export interface NodeCapacity {
  state?: string;
  capacityBytes: number;
  usedBytes: number;
  freeBytes: number;
}

/** Mode and mtime changes; a backend offers them only once the master has the RPC. */
export interface AttributeChange {
  mode?: number;
  mtimeMs?: number;
}

/**
 * The narrow slice of DfsClient the FUSE adapter uses. DfsClient satisfies it as is
 * (checked in dfs-backend.ts); the unit tests run the adapter over an in-memory one.
 * Paths are absolute remote paths.
 */
export interface FsBackend {
  tryStat(path: string): Promise<FileStatus | null>;
  list(path: string): AsyncIterable<FileStatus>;
  mkdir(path: string, opts: { parents?: boolean; mode?: number }): Promise<unknown>;
  rm(path: string, opts: { recursive?: boolean; skipTrash?: boolean }): Promise<void>;
  mv(src: string, dst: string, opts: { overwrite?: boolean }): Promise<void>;
  /** Uploads a local file or a stream; the remote file appears whole when this resolves. */
  put(source: string | NodeJS.ReadableStream, remote: string, opts: { overwrite?: boolean; mode?: number }): Promise<FileStatus>;
  /** Bytes [start, end] of a file (end inclusive), in order. */
  readChunks(path: string, opts: { start?: number; end?: number }): AsyncIterable<Buffer>;
  clusterStatus(): Promise<{ chunkservers: NodeCapacity[] }>;
  /** Optional until the master has a SetAttributes RPC; the adapter keeps a local overlay otherwise. */
  setAttributes?(path: string, change: AttributeChange): Promise<void>;
}
