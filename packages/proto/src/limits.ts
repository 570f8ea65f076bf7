/** Size of one checksum block and of one data frame on the wire (measured fastest for grpc-js). */
export const BLOCK_SIZE = 64 * 1024;
/** Default chunk size (GFS/HDFS use 64 MiB). */
export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
/** Largest gRPC message any dfs server or channel accepts. A data frame is BLOCK_SIZE plus framing. */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
/**
 * Largest file kept inline: its bytes live in the metadata (one Raft entry, the master's
 * database), not on chunkservers, as Ceph and ext4 inline data (packages/master/DESIGN.md).
 */
export const MAX_INLINE_BYTES = 4096;
/** Longest name of one path component, as POSIX NAME_MAX. */
export const MAX_NAME_BYTES = 255;
/** Longest whole path. */
export const MAX_PATH_BYTES = 4096;
